/* eg_digest: see eg_digest.h. */
#include "eg_digest.h"

#include <openssl/evp.h>

void eg_hex(const unsigned char *b, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[b[i] >> 4];
        out[2 * i + 1] = hex[b[i] & 15];
    }
    out[2 * n] = '\0';
}

int eg_sha256(const void *data, size_t n, unsigned char md[EG_SHA256_LEN])
{
    unsigned int mdlen = 0;
    return EVP_Digest(data ? data : "", n, md, &mdlen, EVP_sha256(), NULL) == 1 &&
                   mdlen == EG_SHA256_LEN
               ? 0
               : -1;
}

int eg_sha256_hex(const void *data, size_t n, char out[2 * EG_SHA256_LEN + 1])
{
    unsigned char md[EG_SHA256_LEN];
    if (eg_sha256(data, n, md))
        return -1;
    eg_hex(md, EG_SHA256_LEN, out);
    return 0;
}
