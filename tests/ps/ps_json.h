/*
 * ps_json.h - a strict little JSON checker for the taskring-ps tests: is the text one valid
 * value, every string well-formed UTF-8 with no raw control character, every escape one
 * JSON knows?
 */
#ifndef PS_JSON_H
#define PS_JSON_H

#include <stdbool.h>
#include <string.h>

static const char *pj;

/* Length of the well-formed UTF-8 character at s (s[0] >= 0x80), or 0. */
static inline size_t pj_utf8(const unsigned char *s) {
    unsigned char c = s[0], lo = 0x80, hi = 0xbf;
    size_t n;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        lo = c == 0xe0 ? 0xa0 : 0x80;
        hi = c == 0xed ? 0x9f : 0xbf;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        lo = c == 0xf0 ? 0x90 : 0x80;
        hi = c == 0xf4 ? 0x8f : 0xbf;
    } else
        return 0;
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    return n;
}

static inline void pj_ws(void) {
    while (*pj == ' ' || *pj == '\n' || *pj == '\t' || *pj == '\r')
        pj++;
}

static inline bool pj_string(void) {
    if (*pj++ != '"')
        return false;
    while (*pj && *pj != '"') {
        unsigned char c = (unsigned char)*pj;
        if (c < 0x20)
            return false;
        if (c >= 0x80) {
            size_t n = pj_utf8((const unsigned char *)pj);
            if (!n)
                return false;
            pj += n;
            continue;
        }
        if (c == '\\') {
            pj++;
            if (*pj == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (!pj[i] || !strchr("0123456789abcdefABCDEF", pj[i]))
                        return false;
                pj += 4;
            } else if (!*pj || !strchr("\"\\/bfnrt", *pj))
                return false;
        }
        pj++;
    }
    return *pj++ == '"';
}

static inline bool pj_value(void);

static inline bool pj_number(void) {
    const char *s = pj;
    if (*pj == '-')
        pj++;
    while ((*pj >= '0' && *pj <= '9') || *pj == '.' || *pj == 'e' || *pj == 'E' || *pj == '+' ||
           *pj == '-')
        pj++;
    return pj > s;
}

static inline bool pj_value(void) {
    pj_ws();
    if (*pj == '{' || *pj == '[') {
        char close = *pj == '{' ? '}' : ']';
        bool object = *pj == '{';
        pj++;
        pj_ws();
        if (*pj == close)
            return pj++, true;
        for (;;) {
            pj_ws();
            if (object) {
                if (!pj_string())
                    return false;
                pj_ws();
                if (*pj++ != ':')
                    return false;
            }
            if (!pj_value())
                return false;
            pj_ws();
            if (*pj == close)
                return pj++, true;
            if (*pj++ != ',')
                return false;
        }
    }
    if (*pj == '"')
        return pj_string();
    if (!strncmp(pj, "true", 4) || !strncmp(pj, "null", 4))
        return pj += 4, true;
    if (!strncmp(pj, "false", 5))
        return pj += 5, true;
    return pj_number();
}

/* The whole text is one JSON value (and white space). */
static inline bool ps_json_valid(const char *text) {
    pj = text;
    if (!pj_value())
        return false;
    pj_ws();
    return *pj == 0;
}

#endif
