// i18n.js — English and Vietnamese labels, chosen by navigator.language (or an explicit
// "en"/"vi"): any vi-* locale gets Vietnamese, everything else English.
const STRINGS = {
  en: {
    title: "Assistant",
    placeholder: "Ask a question…",
    send: "Send",
    newChat: "New conversation",
    ready: "Ready",
    sending: "Sending…",
    queued: "Queued",
    routed: "Agent: {0}",
    answering: "Answering…",
    done: "Done",
    failed: "Failed: {0}",
    reconnecting: "Connection lost, resuming…",
    longpoll: "Live stream unavailable (server busy): waiting for the answer by long-poll",
    noCredential: "No credential: the page gave no token or token provider",
    you: "You",
    tool: "Tool {0}",
    toolOk: "done",
    toolFailed: "failed",
    sources: "Sources",
    history: "Earlier in this conversation",
    historySome: "Earlier in this conversation ({0} older messages not shown)",
    historyFailed: "Could not load this conversation: {0}",
    unreachable: "cannot reach {0} (the network is down, or this page's origin is not in the server's INGRESS_CORS_ORIGINS)",
  },
  vi: {
    title: "Trợ lý",
    placeholder: "Nhập câu hỏi…",
    send: "Gửi",
    newChat: "Cuộc trò chuyện mới",
    ready: "Sẵn sàng",
    sending: "Đang gửi…",
    queued: "Đang chờ xử lý",
    routed: "Tác tử: {0}",
    answering: "Đang trả lời…",
    done: "Xong",
    failed: "Lỗi: {0}",
    reconnecting: "Mất kết nối, đang tiếp tục…",
    longpoll: "Không mở được luồng trực tiếp (máy chủ bận): đang chờ câu trả lời bằng long-poll",
    noCredential: "Thiếu thông tin xác thực: trang không cung cấp token",
    you: "Bạn",
    tool: "Công cụ {0}",
    toolOk: "xong",
    toolFailed: "lỗi",
    sources: "Nguồn",
    history: "Trước đó trong cuộc trò chuyện",
    historySome: "Trước đó trong cuộc trò chuyện ({0} tin nhắn cũ hơn không hiển thị)",
    historyFailed: "Không tải được cuộc trò chuyện: {0}",
    unreachable: "không kết nối được {0} (mất mạng, hoặc nguồn của trang này không có trong INGRESS_CORS_ORIGINS của máy chủ)",
  },
};

export function pickLang(explicit) {
  const l = (explicit || (typeof navigator !== "undefined" && navigator.language) || "en")
    .toLowerCase();
  return l.startsWith("vi") ? "vi" : "en";
}

export function labels(lang) {
  const s = STRINGS[lang] || STRINGS.en;
  return (key, ...args) =>
    String(s[key] ?? STRINGS.en[key] ?? key).replace(/\{(\d)\}/g, (_, i) => String(args[+i] ?? ""));
}
