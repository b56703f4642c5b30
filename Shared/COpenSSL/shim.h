#ifndef COUPON_COPENSSL_SHIM_H
#define COUPON_COPENSSL_SHIM_H
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/err.h>
#endif
