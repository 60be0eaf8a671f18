/*
 * eg_log: leveled logging to one sink, text or JSON, one line per record.
 *
 * Design
 *  - State: the threshold and the format live in C11 atomics, so that
 *    eg_log_enabled() (called before every log statement, on every thread) is
 *    one relaxed load and the level can be changed at run time. The sink (a
 *    FILE * and its descriptor) is set by eg_log_setup() before threads start
 *    and only read afterwards.
 *  - A record is built completely in memory first: a 2 KiB stack buffer,
 *    moved to the heap only for longer lines. The message is formatted with
 *    vsnprintf, then copied into the line with the escaping the format needs
 *    (text: control characters as \n, \t, \xNN and quoted field values; JSON:
 *    RFC 8259 string escaping, invalid UTF-8 replaced by U+FFFD).
 *  - The finished line goes out with a single write(2) on the sink's
 *    descriptor (retried only on a short write or EINTR) while holding a
 *    process-wide mutex: lines from different threads never interleave, and
 *    lines of different processes sharing a pipe do not either as long as they
 *    are shorter than PIPE_BUF. A FILE without a descriptor (memory streams,
 *    used by tests) gets fwrite + fflush under the same mutex.
 *  - Failure: logging never fails loudly: write errors are ignored. A line
 *    longer than the stack buffer is allocated as any other memory is
 *    (eg_alloc.h).
 *  - Threads: every function may be called from any thread, including
 *    librdkafka's internal threads through eg_log_rdkafka_cb().
 */
#include "eg_log.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "eg_alloc.h"

static atomic_int eg__log_level = EG_LOG_LEVEL_INFO;
static atomic_int eg__log_format = EG_LOG_FORMAT_TEXT;
static FILE *eg__log_out; /* NULL: stderr */
static pthread_mutex_t eg__log_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const eg__level_names[] = {"debug", "info", "warn", "error"};
static const char *const eg__level_text[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};

/* ---- public small pieces ------------------------------------------------ */

int eg_log_level_parse(const char *s, eg_log_level_t *out)
{
    if (!s)
        return -1;
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(s, eg__level_names[i]) == 0) {
            *out = (eg_log_level_t)i;
            return 0;
        }
    }
    if (strcasecmp(s, "warning") == 0) {
        *out = EG_LOG_LEVEL_WARN;
        return 0;
    }
    return -1;
}

int eg_log_format_parse(const char *s, eg_log_format_t *out)
{
    if (!s)
        return -1;
    if (strcasecmp(s, "text") == 0) {
        *out = EG_LOG_FORMAT_TEXT;
        return 0;
    }
    if (strcasecmp(s, "json") == 0) {
        *out = EG_LOG_FORMAT_JSON;
        return 0;
    }
    return -1;
}

const char *eg_log_level_name(eg_log_level_t level)
{
    if ((int)level < 0 || (int)level > 3)
        return "?";
    return eg__level_names[level];
}

void eg_log_setup(eg_log_level_t level, eg_log_format_t fmt, FILE *out)
{
    pthread_mutex_lock(&eg__log_lock);
    eg__log_out = out;
    pthread_mutex_unlock(&eg__log_lock);
    atomic_store(&eg__log_format, (int)fmt);
    atomic_store(&eg__log_level, (int)level);
}

void eg_log_set_level(eg_log_level_t level)
{
    atomic_store(&eg__log_level, (int)level);
}

int eg_log_enabled(eg_log_level_t level)
{
    return (int)level >= atomic_load_explicit(&eg__log_level, memory_order_relaxed);
}

/* ---- the line buffer ---------------------------------------------------- */

typedef struct eg__buf {
    char *p;
    size_t len;
    size_t cap;
    int heap; /* p was malloc'ed */
} eg__buf_t;

static void eg__buf_grow(eg__buf_t *b, size_t need)
{
    if (b->len + need <= b->cap)
        return;
    size_t cap = b->cap * 2;
    while (cap < b->len + need)
        cap *= 2;
    if (b->heap) {
        b->p = eg_xrealloc(b->p, cap);
    } else {
        char *np = eg_xmalloc(cap);
        memcpy(np, b->p, b->len);
        b->p = np;
        b->heap = 1;
    }
    b->cap = cap;
}

static void eg__buf_putn(eg__buf_t *b, const char *s, size_t n)
{
    eg__buf_grow(b, n);
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void eg__buf_puts(eg__buf_t *b, const char *s)
{
    eg__buf_putn(b, s, strlen(s));
}

static void eg__buf_putc(eg__buf_t *b, char c)
{
    eg__buf_putn(b, &c, 1);
}

static void eg__buf_hex(eg__buf_t *b, const char *prefix, unsigned v, int digits)
{
    static const char hex[] = "0123456789abcdef";
    char tmp[8];
    eg__buf_puts(b, prefix);
    for (int i = digits - 1; i >= 0; i--) {
        tmp[i] = hex[v & 0xf];
        v >>= 4;
    }
    eg__buf_putn(b, tmp, (size_t)digits);
}

/* ---- escaping ----------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s, 0 if s does not start one. The
 * string is NUL-terminated, and NUL is never a continuation byte, so this
 * never reads past the end. */
static size_t eg__utf8_len(const unsigned char *s)
{
    unsigned char c = s[0];
    unsigned char lo = 0x80, hi = 0xBF;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        return (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if (c == 0xE0)
            lo = 0xA0; /* no overlong forms */
        else if (c == 0xED)
            hi = 0x9F; /* no surrogates */
        if (s[1] < lo || s[1] > hi)
            return 0;
        return (s[2] & 0xC0) == 0x80 ? 3 : 0;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F; /* <= U+10FFFF */
        if (s[1] < lo || s[1] > hi)
            return 0;
        if ((s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
            return 0;
        return 4;
    }
    return 0;
}

/* A JSON string literal, quotes included. */
static void eg__put_json_str(eg__buf_t *b, const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    eg__buf_putc(b, '"');
    while (*s) {
        unsigned char c = *s;
        switch (c) {
        case '"':
            eg__buf_puts(b, "\\\"");
            s++;
            continue;
        case '\\':
            eg__buf_puts(b, "\\\\");
            s++;
            continue;
        case '\n':
            eg__buf_puts(b, "\\n");
            s++;
            continue;
        case '\r':
            eg__buf_puts(b, "\\r");
            s++;
            continue;
        case '\t':
            eg__buf_puts(b, "\\t");
            s++;
            continue;
        case '\b':
            eg__buf_puts(b, "\\b");
            s++;
            continue;
        case '\f':
            eg__buf_puts(b, "\\f");
            s++;
            continue;
        default:
            break;
        }
        if (c < 0x20 || c == 0x7f) {
            eg__buf_hex(b, "\\u", c, 4);
            s++;
            continue;
        }
        size_t n = eg__utf8_len(s);
        if (n == 0) {
            eg__buf_puts(b, "\\ufffd");
            s++;
            continue;
        }
        eg__buf_putn(b, (const char *)s, n);
        s += n;
    }
    eg__buf_putc(b, '"');
}

/* Text: keeps a record on one line. Inside quotes, '"' and '\\' are escaped
 * too. */
static void eg__put_text(eg__buf_t *b, const char *str, int quoted)
{
    const unsigned char *s = (const unsigned char *)str;
    for (; *s; s++) {
        unsigned char c = *s;
        if (c == '\n')
            eg__buf_puts(b, "\\n");
        else if (c == '\r')
            eg__buf_puts(b, "\\r");
        else if (c == '\t')
            eg__buf_puts(b, "\\t");
        else if (c < 0x20 || c == 0x7f)
            eg__buf_hex(b, "\\x", c, 2);
        else if (quoted && (c == '"' || c == '\\')) {
            eg__buf_putc(b, '\\');
            eg__buf_putc(b, (char)c);
        } else
            eg__buf_putc(b, (char)c);
    }
}

static int eg__text_needs_quotes(const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    if (!*s)
        return 1;
    for (; *s; s++)
        if (*s <= ' ' || *s == '"' || *s == '=' || *s == '\\' || *s == 0x7f)
            return 1;
    return 0;
}

/* ---- fields ------------------------------------------------------------- */

/* A safety net: the value of a field whose name says it holds a credential
 * is never written, whatever the caller passes. Names ending in "id"
 * (accessKeyId) name a credential without holding it. */
static const char *eg__field_value(const eg_log_field_t *f)
{
    static const char *const secret[] = {"authorization", "accesskey", "secret",
                                         "password",      "token",     "admin_key",
                                         "adminkey",      "api_key",   NULL};
    size_t n = f->key ? strlen(f->key) : 0;
    if (n >= 2 && !strcasecmp(f->key + n - 2, "id"))
        return f->value;
    if (f->key && f->value)
        for (size_t i = 0; secret[i]; i++)
            if (strcasestr(f->key, secret[i]))
                return "[redacted]";
    return f->value;
}

/* A field may not take the place of a fixed member of the JSON object. */
static int eg__reserved_key(const char *k)
{
    return k && (!strcmp(k, "time") || !strcmp(k, "level") || !strcmp(k, "component") ||
                 !strcmp(k, "msg"));
}

/* ---- writing ------------------------------------------------------------ */

static void eg__put_time(eg__buf_t *b)
{
    struct timespec ts;
    struct tm tm;
    char tmp[64];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(tmp, sizeof tmp, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(tmp + n, sizeof tmp - n, ".%03dZ", (int)(ts.tv_nsec / 1000000));
    eg__buf_puts(b, tmp);
}

static void eg__emit(const char *line, size_t len)
{
    pthread_mutex_lock(&eg__log_lock);
    FILE *out = eg__log_out ? eg__log_out : stderr;
    int fd = fileno(out);
    if (fd >= 0) {
        while (len > 0) {
            ssize_t n = write(fd, line, len);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                break;
            }
            line += n;
            len -= (size_t)n;
        }
    } else {
        fwrite(line, 1, len, out);
        fflush(out);
    }
    pthread_mutex_unlock(&eg__log_lock);
}

void eg_log_vwritef(eg_log_level_t level, const char *component, const eg_log_field_t *fields,
                    size_t nfields, const char *fmt, va_list ap)
{
    char stack[2048];
    char msgstack[1024];
    const char *msg = msgstack;
    char *big = NULL;
    eg__buf_t b = {stack, 0, sizeof stack, 0};
    int saved_errno = errno;

    if (!eg_log_enabled(level))
        return;
    if ((int)level < 0 || (int)level > 3)
        level = EG_LOG_LEVEL_ERROR;
    if (!component)
        component = "-";

    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(msgstack, sizeof msgstack, fmt, ap);
    if (n < 0) {
        msg = "(unformattable log message)";
    } else if ((size_t)n >= sizeof msgstack) {
        big = eg_xmalloc((size_t)n + 1);
        vsnprintf(big, (size_t)n + 1, fmt, ap2);
        msg = big;
    }
    va_end(ap2);

    if (atomic_load(&eg__log_format) == EG_LOG_FORMAT_JSON) {
        eg__buf_puts(&b, "{\"time\":\"");
        eg__put_time(&b);
        eg__buf_puts(&b, "\",\"level\":\"");
        eg__buf_puts(&b, eg__level_names[level]);
        eg__buf_puts(&b, "\",\"component\":");
        eg__put_json_str(&b, component);
        eg__buf_puts(&b, ",\"msg\":");
        eg__put_json_str(&b, msg);
        for (size_t i = 0; i < nfields; i++) {
            const char *v = eg__field_value(&fields[i]);
            const char *k = fields[i].key ? fields[i].key : "";
            char renamed[128];
            if (eg__reserved_key(k)) {
                snprintf(renamed, sizeof renamed, "field.%s", k);
                k = renamed;
            }
            eg__buf_putc(&b, ',');
            eg__put_json_str(&b, k);
            eg__buf_putc(&b, ':');
            if (v)
                eg__put_json_str(&b, v);
            else
                eg__buf_puts(&b, "null");
        }
        eg__buf_putc(&b, '}');
    } else {
        eg__put_time(&b);
        eg__buf_putc(&b, ' ');
        eg__buf_puts(&b, eg__level_text[level]);
        eg__buf_puts(&b, " [");
        eg__put_text(&b, component, 0);
        eg__buf_puts(&b, "] ");
        eg__put_text(&b, msg, 0);
        for (size_t i = 0; i < nfields; i++) {
            const char *v = eg__field_value(&fields[i]);
            v = v ? v : "";
            eg__buf_putc(&b, ' ');
            eg__put_text(&b, fields[i].key ? fields[i].key : "", 0);
            eg__buf_putc(&b, '=');
            if (eg__text_needs_quotes(v)) {
                eg__buf_putc(&b, '"');
                eg__put_text(&b, v, 1);
                eg__buf_putc(&b, '"');
            } else {
                eg__put_text(&b, v, 0);
            }
        }
    }
    eg__buf_putc(&b, '\n');

    eg__emit(b.p, b.len);

    if (b.heap)
        free(b.p);
    free(big);
    errno = saved_errno;
}

void eg_log_writef(eg_log_level_t level, const char *component, const eg_log_field_t *fields,
                   size_t nfields, const char *fmt, ...)
{
    va_list ap;
    if (!eg_log_enabled(level))
        return;
    va_start(ap, fmt);
    eg_log_vwritef(level, component, fields, nfields, fmt, ap);
    va_end(ap);
}

void eg_log_write(eg_log_level_t level, const char *component, const char *fmt, ...)
{
    va_list ap;
    if (!eg_log_enabled(level))
        return;
    va_start(ap, fmt);
    eg_log_vwritef(level, component, NULL, 0, fmt, ap);
    va_end(ap);
}

void eg_log_rdkafka_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    eg_log_level_t l;
    if (level <= 3)
        l = EG_LOG_LEVEL_ERROR;
    else if (level == 4)
        l = EG_LOG_LEVEL_WARN;
    else if (level <= 6)
        l = EG_LOG_LEVEL_INFO;
    else
        l = EG_LOG_LEVEL_DEBUG;
    if (!eg_log_enabled(l))
        return;
    eg_log_field_t fields[2] = {
        {"fac", fac ? fac : ""},
        {"client", rk ? rd_kafka_name(rk) : ""},
    };
    eg_log_writef(l, "kafka", fields, 2, "%s", buf ? buf : "");
}
