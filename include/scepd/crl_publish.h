/*
 * crl_publish.h - each CA's current CRL, as every worker and node serves it.
 *
 * The CRL lives in the store (store_put_crl(), one per CA, the highest cRLNumber
 * wins), so that every worker and every node sharing a PostgreSQL store serves the
 * same list and never a lower number. A worker asks the store at most once a second
 * whether its copy is current: the CA's revocation counter unchanged and the list
 * younger than crl.refresh. Otherwise it makes the next one: the revoked, unexpired
 * certificates of the CA (store_walk_revoked()), numbered one above the stored list,
 * signed with the CA key under the issuer's lock (issuer_with_ca_key()), and stored;
 * when another worker or node stored one first (-ESTALE), that one is read and served.
 * A revocation is thus in the CRL within a second, on the next request at the latest.
 * Every request also reads the stored list and serves it when it is newer than the
 * worker's copy: another worker of the node may have served it already.
 */
#ifndef SCEPD_CRL_PUBLISH_H
#define SCEPD_CRL_PUBLISH_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "scepd/config.h"
#include "scepd/issuer.h"

struct crl_publish;

/* A CRL to answer with: a copy the caller owns (crl_published_clear()). */
struct crl_published {
	unsigned char *der;
	size_t der_len;
	uint64_t number;
	time_t this_update;
	time_t next_update;
};

/* One per worker, on its issuer (which it borrows). 0, -ENOMEM. */
int crl_publish_new(const struct scepd_config *cfg, struct issuer *issuer,
		    struct crl_publish **ret);
void crl_publish_free(struct crl_publish *pub);

/*
 * The current CRL of CA ca (an index in cfg->cas, with crl.path set): 0 and *ret;
 * -EAGAIN when it cannot be made now (the token is gone: the stored one, if any and
 * not past its nextUpdate, is answered instead), -EIO (store), -ENOMEM. Thread-safe.
 */
int crl_publish_get(struct crl_publish *pub, size_t ca, struct crl_published *ret);

void crl_published_clear(struct crl_published *p);

#endif
