#ifndef COUPON_CNNG_SHIM_H
#define COUPON_CNNG_SHIM_H
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/pubsub0/sub.h>
#include <nng/supplemental/http/http.h>
#include <nng/supplemental/tls/tls.h>
#endif
