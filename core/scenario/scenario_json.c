/*
 * scenario_json: the scenario loader's view of the raw text.
 *
 * cJSON builds the tree but keeps no positions, so the loader reads the
 * file text itself for two things:
 *   - scn_json_check() is a strict RFC 8259 scanner run before cJSON; it
 *     names the first syntax error precisely ("unterminated string",
 *     "trailing comma") where cJSON only gives an approximate offset;
 *   - scn_locate() walks the raw text along a JSON path (by member ordinal,
 *     so no key comparison or unescaping is needed) to find a value's offset,
 *     which scn_line_col() turns into the LINE:COL of a message.
 */
#include "scenario/scenario_int.h"

#include <stdio.h>
#include <string.h>

#define SCN_MAX_DEPTH 200 /* deeper JSON is refused outright */

static bool is_ws(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

size_t scn_skip_ws(const struct ctx *c, size_t i)
{
    while (i < c->len && is_ws(c->text[i]))
        i++;
    return i;
}

static size_t skip_bom(const struct ctx *c)
{
    if (c->len >= 3 && memcmp(c->text, "\xEF\xBB\xBF", 3) == 0)
        return 3;
    return 0;
}

/* i at an opening quote; returns the index after the closing quote. */
size_t scn_skip_string(const struct ctx *c, size_t i)
{
    for (i++; i < c->len; i++) {
        if (c->text[i] == '\\')
            i++;
        else if (c->text[i] == '"')
            return i + 1;
    }
    return c->len;
}

/* i at the start of a value in already-validated text; returns its end. */
size_t scn_skip_value(const struct ctx *c, size_t i)
{
    if (i >= c->len)
        return c->len;
    char ch = c->text[i];
    if (ch == '"')
        return scn_skip_string(c, i);
    if (ch == '{' || ch == '[') {
        size_t depth = 0;
        while (i < c->len) {
            ch = c->text[i];
            if (ch == '"') {
                i = scn_skip_string(c, i);
                continue;
            }
            if (ch == '{' || ch == '[')
                depth++;
            else if ((ch == '}' || ch == ']') && --depth == 0)
                return i + 1;
            i++;
        }
        return c->len;
    }
    while (i < c->len && !is_ws(c->text[i]) && c->text[i] != ',' && c->text[i] != ']' &&
           c->text[i] != '}')
        i++;
    return i;
}

/*
 * Offset of the value at path p (or of its parent when the key is missing);
 * *keypos, when given, receives the offset of the member's key.
 */
size_t scn_locate(const struct ctx *c, const struct jpath *p, size_t *keypos)
{
    if (p->up == NULL) {
        size_t at = scn_skip_ws(c, skip_bom(c));
        if (keypos != NULL)
            *keypos = at;
        return at;
    }
    size_t at = scn_locate(c, p->up, NULL);
    if (keypos != NULL)
        *keypos = at;
    if (p->ordinal < 0 || at >= c->len)
        return at;
    char open = c->text[at];
    if (open != '{' && open != '[')
        return at;
    size_t i = at + 1;
    for (long k = 0;; k++) {
        i = scn_skip_ws(c, i);
        if (i >= c->len)
            return at;
        size_t kp = i;
        if (open == '{') {
            i = scn_skip_ws(c, scn_skip_string(c, i));
            if (i < c->len && c->text[i] == ':')
                i++;
            i = scn_skip_ws(c, i);
        }
        if (k == p->ordinal) {
            if (keypos != NULL)
                *keypos = kp;
            return i;
        }
        i = scn_skip_ws(c, scn_skip_value(c, i));
        if (i >= c->len || c->text[i] != ',')
            return at;
        i++;
    }
}

void scn_line_col(const struct ctx *c, size_t pos, unsigned *line, unsigned *col)
{
    unsigned l = 1, k = 1;
    for (size_t i = 0; i < pos && i < c->len; i++) {
        unsigned char ch = (unsigned char)c->text[i];
        if (ch == '\n') {
            l++;
            k = 1;
        } else if ((ch & 0xC0) != 0x80) { /* count characters, not UTF-8 continuation bytes */
            k++;
        }
    }
    *line = l;
    *col = k;
}

/* ---- strict syntax check ------------------------------------------------- */

static void describe_char(char ch, char *buf, size_t cap)
{
    unsigned char u = (unsigned char)ch;
    if (u >= 0x20 && u < 0x7F)
        snprintf(buf, cap, "'%c'", ch);
    else
        snprintf(buf, cap, "byte 0x%02X", u);
}

static bool is_hex(char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

/* A number at *i ('-' or a digit). On an error *i is its start. */
static bool check_number(const struct ctx *c, size_t *i, char *what, size_t cap)
{
    const char *t = c->text;
    size_t n = c->len, k = *i;
    if (t[k] == '-')
        k++;
    if (k < n && t[k] == '0') {
        k++;
        if (k < n && scn_is_digit(t[k])) {
            snprintf(what, cap, "invalid number (leading zero)");
            return false;
        }
    } else if (k < n && scn_is_digit(t[k])) {
        while (k < n && scn_is_digit(t[k]))
            k++;
    } else {
        snprintf(what, cap, "invalid number");
        return false;
    }
    if (k < n && t[k] == '.') {
        k++;
        if (k >= n || !scn_is_digit(t[k])) {
            snprintf(what, cap, "invalid number (no digit after '.')");
            return false;
        }
        while (k < n && scn_is_digit(t[k]))
            k++;
    }
    if (k < n && (t[k] == 'e' || t[k] == 'E')) {
        k++;
        if (k < n && (t[k] == '+' || t[k] == '-'))
            k++;
        if (k >= n || !scn_is_digit(t[k])) {
            snprintf(what, cap, "invalid number (no digit in the exponent)");
            return false;
        }
        while (k < n && scn_is_digit(t[k]))
            k++;
    }
    *i = k;
    return true;
}

/*
 * A string at *i (its opening quote); on success *i is past the closing
 * quote. On an error *i is where it is (the opening quote when the string
 * never ends).
 */
static bool check_string(const struct ctx *c, size_t *i, char *what, size_t cap)
{
    const char *t = c->text;
    size_t n = c->len, s = *i, k = *i;
    char ch_desc[16];
    for (k++;; k++) {
        if (k >= n) {
            *i = s;
            snprintf(what, cap, "unterminated string");
            return false;
        }
        unsigned char u = (unsigned char)t[k];
        if (u == '"')
            break;
        if (u < 0x20) {
            *i = k;
            snprintf(what, cap, "control character 0x%02X in a string (escape it)", u);
            return false;
        }
        if (u != '\\')
            continue;
        if (k + 1 >= n) {
            *i = s;
            snprintf(what, cap, "unterminated string");
            return false;
        }
        char e = t[k + 1];
        if (e == 'u') {
            for (int h = 2; h < 6; h++) {
                if (k + (size_t)h >= n || !is_hex(t[k + (size_t)h])) {
                    *i = k;
                    snprintf(what, cap, "invalid \\u escape (expected 4 hex digits)");
                    return false;
                }
            }
            k += 5;
        } else if (strchr("\"\\/bfnrt", e) != NULL && e != '\0') {
            k++;
        } else {
            *i = k;
            describe_char(e, ch_desc, sizeof ch_desc);
            snprintf(what, cap, "invalid escape \\ followed by %s", ch_desc);
            return false;
        }
    }
    *i = k + 1;
    return true;
}

/* true, false or null at *i; false when it is none of them. */
static bool check_literal(const struct ctx *c, size_t *i)
{
    static const char *const lits[] = {"true", "false", "null"};
    for (int k = 0; k < 3; k++) {
        size_t ln = strlen(lits[k]);
        if (c->len - *i >= ln && memcmp(c->text + *i, lits[k], ln) == 0) {
            *i += ln;
            return true;
        }
    }
    return false;
}

/*
 * Checks that the text is exactly one JSON value (RFC 8259). On an error
 * returns false with *at the offset and what[] the description.
 *
 * A loop over three states (a value is expected, a key is expected, a value
 * just ended) with a stack of the open containers; ':' on the stack marks
 * an object whose key was read and whose ':' is due.
 */
bool scn_json_check(const struct ctx *c, size_t *at, char *what, size_t cap)
{
    const char *t = c->text;
    size_t n = c->len;
    char stack[SCN_MAX_DEPTH];
    size_t sp = 0;
    size_t i = skip_bom(c);
    char ch_desc[16];

value:
    i = scn_skip_ws(c, i);
    if (i >= n) {
        snprintf(what, cap, "unexpected end of input; expected a value");
        goto bad;
    }
    if (t[i] == '{' || t[i] == '[') {
        if (sp == SCN_MAX_DEPTH) {
            snprintf(what, cap, "nesting deeper than %d levels", SCN_MAX_DEPTH);
            goto bad;
        }
        stack[sp++] = t[i];
        i = scn_skip_ws(c, i + 1);
        if (i < n && t[i] == (stack[sp - 1] == '{' ? '}' : ']')) {
            sp--;
            i++;
            goto after;
        }
        if (stack[sp - 1] == '{')
            goto key;
        goto value;
    }
    if (t[i] == '"') {
        if (!check_string(c, &i, what, cap))
            goto bad;
        goto after;
    }
    if ((t[i] == 't' || t[i] == 'f' || t[i] == 'n') && check_literal(c, &i))
        goto after;
    if (t[i] == '-' || scn_is_digit(t[i])) {
        if (!check_number(c, &i, what, cap))
            goto bad;
        goto after;
    }
    describe_char(t[i], ch_desc, sizeof ch_desc);
    snprintf(what, cap, "unexpected %s; expected a value", ch_desc);
    goto bad;

key:
    i = scn_skip_ws(c, i);
    if (i >= n) {
        snprintf(what, cap, "unexpected end of input; expected a key in double quotes");
        goto bad;
    }
    if (t[i] == '}') {
        snprintf(what, cap, "trailing comma before '}'");
        goto bad;
    }
    if (t[i] != '"') {
        describe_char(t[i], ch_desc, sizeof ch_desc);
        snprintf(what, cap, "unexpected %s; expected a key in double quotes", ch_desc);
        goto bad;
    }
    if (!check_string(c, &i, what, cap))
        goto bad;
    stack[sp - 1] = ':'; /* `after` expects the ':' */

after:
    i = scn_skip_ws(c, i);
    if (sp == 0) {
        if (i < n) {
            describe_char(t[i], ch_desc, sizeof ch_desc);
            snprintf(what, cap, "unexpected %s after the end of the document", ch_desc);
            goto bad;
        }
        return true;
    }
    if (stack[sp - 1] == ':') {
        stack[sp - 1] = '{';
        if (i < n && t[i] == ':') {
            i++;
            goto value;
        }
        if (i >= n) {
            snprintf(what, cap, "unexpected end of input; expected ':' after the key");
            goto bad;
        }
        describe_char(t[i], ch_desc, sizeof ch_desc);
        snprintf(what, cap, "unexpected %s; expected ':' after the key", ch_desc);
        goto bad;
    }
    {
        char close = stack[sp - 1] == '{' ? '}' : ']';
        if (i < n && t[i] == close) {
            sp--;
            i++;
            goto after;
        }
        if (i < n && t[i] == ',') {
            i = scn_skip_ws(c, i + 1);
            if (stack[sp - 1] == '{')
                goto key;
            if (i < n && t[i] == ']') {
                snprintf(what, cap, "trailing comma before ']'");
                goto bad;
            }
            goto value;
        }
        if (i >= n) {
            snprintf(what, cap, "unexpected end of input; expected ',' or '%c'", close);
            goto bad;
        }
        describe_char(t[i], ch_desc, sizeof ch_desc);
        snprintf(what, cap, "unexpected %s; expected ',' or '%c'", ch_desc, close);
        goto bad;
    }

bad:
    *at = i;
    return false;
}
