#ifndef COUPON_CHIREDIS_SHIM_H
#define COUPON_CHIREDIS_SHIM_H
#include <hiredis/hiredis.h>
#endif
