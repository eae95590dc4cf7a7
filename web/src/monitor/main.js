// web/src/monitor/main.js — the monitor page's script, bundled into monitor.js by web/build.mjs.
