/* eg_base64: base64 and UTF-8 checks; see eg_base64.h. */
#include "eg_base64.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eg_alloc.h"

static const char std_tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char url_tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

char *eg_base64_encode(const void *data, size_t n, int url)
{
    const unsigned char *p = data;
    const char *tab = url ? url_tab : std_tab;
    char *out = eg_xmalloc((n + 2) / 3 * 4 + 1), *o = out;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        *o++ = tab[(v >> 18) & 63];
        *o++ = tab[(v >> 12) & 63];
        if (i + 1 < n)
            *o++ = tab[(v >> 6) & 63];
        else if (!url)
            *o++ = '=';
        if (i + 2 < n)
            *o++ = tab[v & 63];
        else if (!url)
            *o++ = '=';
    }
    *o = '\0';
    return out;
}

static int b64val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

unsigned char *eg_base64_decode(const char *s, size_t len, size_t *out_len)
{
    while (len && s[len - 1] == '=')
        len--;
    if (len % 4 == 1)
        return NULL;
    unsigned char *out = eg_xmalloc(len / 4 * 3 + 3), *o = out;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64val((unsigned char)s[i]);
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            *o++ = (unsigned char)(acc >> bits);
        }
    }
    *out_len = (size_t)(o - out);
    return out;
}

size_t eg_utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0], cp, min;
    size_t len;
    if (c < 0x80)
        return 1;
    if ((c & 0xE0) == 0xC0)
        len = 2, cp = c & 0x1F, min = 0x80;
    else if ((c & 0xF0) == 0xE0)
        len = 3, cp = c & 0x0F, min = 0x800;
    else if ((c & 0xF8) == 0xF0)
        len = 4, cp = c & 0x07, min = 0x10000;
    else
        return 0;
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

/* Eight bytes at a time while they are ASCII without NUL (events are mostly
 * that): no byte has its high bit set, and none is zero. */
#define ASCII_HI 0x8080808080808080ull
#define ASCII_LO 0x0101010101010101ull

int eg_utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        uint64_t w;
        if (n - i >= 8 &&
            (memcpy(&w, p + i, 8), !(w & ASCII_HI) && !((w - ASCII_LO) & ~w & ASCII_HI))) {
            i += 8;
            continue;
        }
        size_t k = p[i] ? eg_utf8_seq(p + i, n - i) : 0;
        if (!k)
            return 0;
        i += k;
    }
    return 1;
}
