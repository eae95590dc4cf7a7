/* language.h — English / Vietnamese detection for the router (seed: _detect_language).
 *
 * Scores both languages over the message's words and picks the higher; a tie (including an
 * empty or word-less message) is English.
 *   Vietnamese: a word holding a Vietnamese-specific letter (ă â đ ê ô ơ ư, any letter of
 *   Unicode's Latin Extended Additional block U+1EA0..U+1EF9 such as ạ ả ế ộ ữ) scores 2;
 *   a word holding another accent Vietnamese also uses (à á è é ì í ò ó ù ú ý ã õ) scores 1;
 *   a common Vietnamese word written without diacritics (khong, cua, cho, toi, ...) scores 1
 *   and a common two-word phrase (bao nhieu, don hang, cong no, ...) scores 2.
 *   English: each common English word (what, is, the, my, ...) scores 1.
 */
#ifndef AGENTHUB_LANGUAGE_H
#define AGENTHUB_LANGUAGE_H

#include <stddef.h>

struct language_score {
    int en;
    int vi;
};

/* Returns "en" or "vi" (static strings). text may be NULL; len is its byte length. */
const char *language_detect(const char *text, size_t len);
/* The same with the scores (tests, debugging). */
const char *language_detect_scored(const char *text, size_t len, struct language_score *out);

#endif
