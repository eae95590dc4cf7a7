/* language.c — see language.h. */
#include "language.h"

#include <stdio.h>
#include <string.h>

/* Common Vietnamese words as people type them without diacritics. Words that are also
 * ordinary English words (no, can, ban, hang, the, do, a, to) are left out on purpose. */
static const char *const vi_words[] = {
    "khong", "cua",   "cho",   "toi",  "minh", "la",    "gi",    "nhieu", "duoc", "nao",
    "chao",  "xin",   "cam",   "ong",  "anh",  "chi",   "em",    "voi",   "nhu",  "hoi",
    "kiem",  "giup",  "vui",   "long", "tai",  "sao",   "khach", "thue",  "hoa",  "nhung",
    "cac",   "mot",   "nay",   "roi",  "chua", "biet",  "muon",  "xem",   "tien", "ngay",
    "thang", "nam",   "bao",   "tra",  "cuu",  "giao",  "nhan",  "dang",  "hien", "trang",
    "vay",   "ak",    "nhe",   "oi",   "dau",  "ve",    "theo",  "tinh",  "hinh", "phieu",
    "kho",   "luong", "doanh", "thu",  "loi",  "nhuan", "thong", "tin",   "ma",   "so",
    "gui",   "den",   "di",    "tu",   "va",   "hay",   "hoac",  "nguoi", "dung",
};

/* Pairs that are Vietnamese for sure; worth 2. */
static const char *const vi_pairs[][2] = {
    {"bao", "nhieu"}, {"don", "hang"},  {"cong", "no"},    {"van", "don"},    {"khach", "hang"},
    {"ma", "so"},     {"so", "thue"},   {"tra", "cuu"},    {"kiem", "tra"},   {"xin", "chao"},
    {"cam", "on"},    {"giao", "hang"}, {"bao", "cao"},    {"phan", "tich"},  {"nhu", "the"},
    {"the", "nao"},   {"tai", "sao"},   {"hoa", "don"},    {"thanh", "toan"}, {"tinh", "trang"},
    {"doanh", "thu"}, {"o", "dau"},     {"duoc", "khong"}, {"co", "the"},     {"cua", "toi"},
};

static const char *const en_words[] = {
    "the",     "is",       "are",      "what",    "what's",   "how",    "much",     "many",
    "my",      "your",     "for",      "of",      "and",      "or",     "please",   "show",
    "tell",    "me",       "i",        "you",     "we",       "our",    "with",     "where",
    "when",    "why",      "which",    "who",     "this",     "that",   "it",       "in",
    "on",      "at",       "from",     "by",      "about",    "status", "order",    "debt",
    "check",   "customer", "shipment", "track",   "tracking", "report", "analysis", "hello",
    "hi",      "thanks",   "thank",    "can",     "could",    "would",  "should",   "do",
    "does",    "did",      "have",     "has",     "be",       "was",    "were",     "an",
    "a",       "to",       "get",      "give",    "find",     "owe",    "owes",     "outstanding",
    "balance", "package",  "delivery", "where's", "help",     "need",   "want",     "there",
    "any",     "all",      "some",     "company", "tax",      "number", "code",     "invoice",
    "also",
};

static int in_list(const char *w, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(w, list[i]) == 0)
            return 1;
    return 0;
}

/* Decodes one UTF-8 code point at s[*i] (advancing *i); malformed bytes yield 0xFFFD. */
static unsigned utf8_next(const unsigned char *s, size_t len, size_t *i)
{
    unsigned c = s[*i];
    size_t need;
    unsigned cp;
    if (c < 0x80) {
        (*i)++;
        return c;
    } else if ((c & 0xE0) == 0xC0) {
        need = 1;
        cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
        need = 2;
        cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
        need = 3;
        cp = c & 0x07;
    } else {
        (*i)++;
        return 0xFFFD;
    }
    if (*i + need >= len) {
        /* Not enough bytes left. */
        *i = len;
        return 0xFFFD;
    }
    for (size_t k = 1; k <= need; k++) {
        unsigned cc = s[*i + k];
        if ((cc & 0xC0) != 0x80) {
            (*i)++;
            return 0xFFFD;
        }
        cp = (cp << 6) | (cc & 0x3F);
    }
    *i += need + 1;
    return cp;
}

/* 2: Vietnamese-specific letter; 1: an accent Vietnamese shares with other languages;
 * 0: neither. */
static int vi_letter(unsigned cp)
{
    switch (cp) {
    case 0x0103:
    case 0x0102: /* ă Ă */
    case 0x00E2:
    case 0x00C2: /* â Â */
    case 0x0111:
    case 0x0110: /* đ Đ */
    case 0x00EA:
    case 0x00CA: /* ê Ê */
    case 0x00F4:
    case 0x00D4: /* ô Ô */
    case 0x01A1:
    case 0x01A0: /* ơ Ơ */
    case 0x01B0:
    case 0x01AF: /* ư Ư */
    case 0x0129:
    case 0x0128: /* ĩ Ĩ */
    case 0x0169:
    case 0x0168: /* ũ Ũ */
        return 2;
    case 0x00E0:
    case 0x00E1:
    case 0x00E8:
    case 0x00E9:
    case 0x00EC:
    case 0x00ED:
    case 0x00F2:
    case 0x00F3:
    case 0x00F9:
    case 0x00FA:
    case 0x00FD:
    case 0x00E3:
    case 0x00F5:
    case 0x00C0:
    case 0x00C1:
    case 0x00C8:
    case 0x00C9:
    case 0x00CC:
    case 0x00CD:
    case 0x00D2:
    case 0x00D3:
    case 0x00D9:
    case 0x00DA:
    case 0x00DD:
    case 0x00C3:
    case 0x00D5:
        return 1;
    default:
        break;
    }
    if (cp >= 0x1EA0 && cp <= 0x1EF9)
        return 2;
    /* Combining tone marks (text typed in decomposed form): grave, acute, tilde, hook above,
     * dot below, horn, breve, circumflex. */
    if (cp == 0x0300 || cp == 0x0301 || cp == 0x0303 || cp == 0x0309 || cp == 0x0323 ||
        cp == 0x031B || cp == 0x0306 || cp == 0x0302)
        return 2;
    return 0;
}

#define MAX_WORD 32

const char *language_detect_scored(const char *text, size_t len, struct language_score *out)
{
    struct language_score sc = {0, 0};
    const unsigned char *s = (const unsigned char *)text;
    char prev[MAX_WORD] = "";
    size_t i = 0;
    if (!text)
        len = 0;
    while (i < len) {
        /* Skip to the next word: letters, apostrophes inside words, and non-ASCII. */
        char w[MAX_WORD];
        size_t wl = 0;
        int ascii_only = 1, accent = 0, toolong = 0;
        while (i < len) {
            unsigned char c = s[i];
            if (c < 0x80) {
                int letter =
                    (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c == '\'' && wl > 0);
                if (!letter)
                    break;
                if (wl + 1 < MAX_WORD)
                    w[wl++] = (char)((c >= 'A' && c <= 'Z') ? c + 32 : c);
                else
                    toolong = 1;
                i++;
            } else {
                size_t before = i;
                unsigned cp = utf8_next(s, len, &i);
                if (i == before)
                    i++;
                int v = vi_letter(cp);
                int is_letter = v > 0 || (cp >= 0x00C0 && cp <= 0x024F) ||
                                (cp >= 0x1E00 && cp <= 0x1EFF) || (cp >= 0x0300 && cp <= 0x036F);
                if (!is_letter)
                    break;
                ascii_only = 0;
                if (v > accent)
                    accent = v;
            }
        }
        if (wl == 0 && ascii_only) {
            /* Not a word character: move on. */
            if (i < len && s[i] < 0x80)
                i++;
            prev[0] = '\0';
            continue;
        }
        w[wl] = '\0';
        /* Trailing apostrophes are punctuation. */
        while (wl > 0 && w[wl - 1] == '\'')
            w[--wl] = '\0';
        if (!ascii_only) {
            sc.vi += accent;
            prev[0] = '\0';
            continue;
        }
        if (toolong) {
            prev[0] = '\0';
            continue;
        }
        int paired = 0;
        if (prev[0]) {
            for (size_t k = 0; k < sizeof(vi_pairs) / sizeof(vi_pairs[0]); k++) {
                if (strcmp(prev, vi_pairs[k][0]) == 0 && strcmp(w, vi_pairs[k][1]) == 0) {
                    sc.vi += 2;
                    paired = 1;
                    break;
                }
            }
        }
        if (!paired) {
            if (in_list(w, en_words, sizeof(en_words) / sizeof(en_words[0])))
                sc.en += 1;
            else if (in_list(w, vi_words, sizeof(vi_words) / sizeof(vi_words[0])))
                sc.vi += 1;
        }
        snprintf(prev, sizeof(prev), "%s", w);
    }
    if (out)
        *out = sc;
    return sc.vi > sc.en ? "vi" : "en";
}

const char *language_detect(const char *text, size_t len)
{
    return language_detect_scored(text, len, NULL);
}
