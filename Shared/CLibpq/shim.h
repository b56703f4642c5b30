#ifndef COUPON_CLIBPQ_SHIM_H
#define COUPON_CLIBPQ_SHIM_H
#include <postgresql/libpq-fe.h>
#endif
