// web/src/admin/main.js — the admin page's script, bundled into admin.js by web/build.mjs.
