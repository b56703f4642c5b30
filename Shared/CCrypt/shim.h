#ifndef COUPON_CCRYPT_SHIM_H
#define COUPON_CCRYPT_SHIM_H
#include <crypt.h>
#endif
