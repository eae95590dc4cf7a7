/* fuzz_chunk — libFuzzer target for the knowledge chunker (knowledge_chunk, tools/knowledge.c).
 *
 * A tenant's documents (knowledge uploads, the batch pipeline's pages) are chunked after
 * their text is made valid (utf8.h), so any text must chunk safely. The first two bytes pick
 * the chunk size (16..271 bytes) and the overlap; the rest, repaired, is the text. Checked:
 *   - every chunk is non-empty, has no blank at either end, is valid UTF-8 (no character is
 *     cut) and holds at most the chunk size in bytes;
 *   - nothing is lost: every word shorter than half a chunk is in some chunk (a longer word
 *     may be cut at a character boundary), and a text with a word gives at least one chunk;
 *   - chunking is deterministic.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "knowledge.h"
#include "utf8.h"

#define FUZZ_TARGET "fuzz_chunk"
#include "fuzz_check.h"

static int blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t target = 16 + data[0], overlap = data[1] % (target + 8);
    size_t len = 0;
    char *text = utf8_sanitize((const char *)data + 2, size - 2, &len, NULL);
    fuzz_check(text != NULL, "sanitize failed");
    char **chunks = NULL, **again = NULL;
    size_t n = 0, n2 = 0;
    fuzz_check(knowledge_chunk(text, len, target, overlap, &chunks, &n) == 0, "chunk failed");

    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        const char *c = chunks[i];
        size_t l = strlen(c);
        fuzz_check(l > 0 && !blank(c[0]) && !blank(c[l - 1]), "a chunk is empty or untrimmed");
        fuzz_check(utf8_chars(c, l) >= 0, "a chunk cuts a character");
        fuzz_check(l <= target, "a chunk is larger than the chunk size");
        total += l + 1;
    }

    /* every short word is in some chunk (the chunks joined by a byte no text holds now) */
    int has_word = 0;
    for (size_t i = 0; i < len; i++)
        has_word |= !blank(text[i]) && text[i] != '\0';
    fuzz_check(!has_word || n > 0, "a text with words gave no chunk");
    if (len <= 2048 && n > 0) {
        char *joined = malloc(total);
        fuzz_check(joined != NULL, "out of memory");
        size_t at = 0;
        for (size_t i = 0; i < n; i++) {
            size_t l = strlen(chunks[i]);
            memcpy(joined + at, chunks[i], l);
            joined[at + l] = '\x01';
            at += l + 1;
        }
        for (size_t i = 0; i < len;) {
            while (i < len && (blank(text[i]) || text[i] == '\0'))
                i++;
            size_t w = i;
            while (i < len && !blank(text[i]) && text[i] != '\0')
                i++;
            if (i > w && i - w < target / 2)
                fuzz_check(memmem(joined, at, text + w, i - w) != NULL, "a word was lost");
        }
        free(joined);
    }

    fuzz_check(knowledge_chunk(text, len, target, overlap, &again, &n2) == 0 && n2 == n,
               "chunking twice differs");
    for (size_t i = 0; i < n; i++)
        fuzz_check(strcmp(chunks[i], again[i]) == 0, "chunking twice differs");
    knowledge_chunks_free(chunks, n);
    knowledge_chunks_free(again, n2);
    free(text);
    return 0;
}
