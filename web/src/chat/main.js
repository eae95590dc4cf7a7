// web/src/chat/main.js — the chat page's script, bundled into chat.js by web/build.mjs.
