/*
 * crl_publish.c - each CA's current CRL: from the worker's copy, the store, or made
 * anew (crl_publish.h).
 *
 * One lock per CA serialises the making of its list in this worker; the store's
 * conditional put serialises it between workers and nodes. The key operation runs
 * under the issuer's lock, as every other one.
 */
#include "scepd/crl_publish.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "scepd/crl.h"
#include "scepd/stats.h"
#include "scepd/store.h"

#define CRL_PUBLISH_CHECK_SECS 1 /* how often a worker asks the store */

struct crl_publish_ca {
	pthread_mutex_t lock;
	struct crl_published cur; /* der NULL: none yet */
	uint64_t changes;         /* the revocation counter cur was made from */
	time_t checked_at;        /* when the store was last asked */
};

struct crl_publish {
	const struct scepd_config *cfg;
	struct issuer *issuer;
	struct crl_publish_ca *cas; /* one per cfg->cas */
};

/* The revoked certificates of a CA, copied out of the store's walk. */
struct crl_publish_list {
	struct crl_entry *v;
	size_t n;
};

/* What the CA key signs, under the issuer's lock. */
struct crl_publish_sign {
	struct crl_params params; /* ca filled in by the op */
	const EVP_MD *md;
	unsigned char *der;
	size_t len;
};

int
crl_publish_new(const struct scepd_config *cfg, struct issuer *issuer, struct crl_publish **ret)
{
	struct crl_publish *pub;

	if ((pub = calloc(1, sizeof(*pub))) == NULL ||
	    (pub->cas = calloc(cfg->n_cas, sizeof(*pub->cas))) == NULL) {
		free(pub);
		return -ENOMEM;
	}
	pub->cfg = cfg;
	pub->issuer = issuer;
	for (size_t i = 0; i < cfg->n_cas; i++)
		pthread_mutex_init(&pub->cas[i].lock, NULL);
	*ret = pub;
	return 0;
}

void
crl_published_clear(struct crl_published *p)
{
	OPENSSL_free(p->der);
	memset(p, 0, sizeof(*p));
}

void
crl_publish_free(struct crl_publish *pub)
{
	if (pub == NULL)
		return;
	for (size_t i = 0; i < pub->cfg->n_cas; i++) {
		crl_published_clear(&pub->cas[i].cur);
		pthread_mutex_destroy(&pub->cas[i].lock);
	}
	free(pub->cas);
	free(pub);
}

static int
crl_publish_copy(const struct crl_published *from, struct crl_published *to)
{
	unsigned char *der = OPENSSL_memdup(from->der, from->der_len);

	if (der == NULL)
		return -ENOMEM;
	*to = *from;
	to->der = der;
	return 0;
}

/* Make the stored CRL this worker's copy. */
static int
crl_publish_adopt(struct crl_publish_ca *c, const struct store_crl *s)
{
	struct crl_published p = {
		.der_len = s->der_len,
		.number = s->number,
		.this_update = s->this_update,
		.next_update = s->next_update,
	};

	if ((p.der = OPENSSL_memdup(s->der, s->der_len)) == NULL)
		return -ENOMEM;
	crl_published_clear(&c->cur);
	c->cur = p;
	c->changes = s->changes;
	return 0;
}

/* Current: made from this counter value, younger than crl.refresh, not past nextUpdate. */
static bool
crl_publish_current(const struct config_ca *ca, uint64_t made_from, time_t this_update,
		    time_t next_update, uint64_t changes, time_t now)
{
	return made_from == changes && now - this_update < ca->crl.refresh && now < next_update;
}

static int
crl_publish_collect(const struct store_cert *cert, void *userdata)
{
	struct crl_publish_list *l = userdata;
	struct crl_entry *v;

	if ((v = reallocarray(l->v, l->n + 1, sizeof(*v))) == NULL)
		return -ENOMEM;
	l->v = v;
	v[l->n] = (struct crl_entry){ .revoked_at = cert->revoked_at,
				      .reason = cert->revocation_reason };
	if ((v[l->n].serial = strdup(cert->serial)) == NULL)
		return -ENOMEM;
	l->n++;
	return 0;
}

static void
crl_publish_list_clear(struct crl_publish_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free((char *)l->v[i].serial);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static int
crl_publish_sign_op(X509 *ca_cert, EVP_PKEY *ca_key, void *arg, bool *ret_failed)
{
	struct crl_publish_sign *s = arg;
	X509_CRL *crl = NULL;
	int r;

	s->params.ca = ca_cert;
	if ((r = crl_build(&s->params, &crl)) == 0)
		r = crl_sign(crl, ca_key, s->md, &s->der, &s->len);
	*ret_failed = r == -EIO;
	X509_CRL_free(crl);
	return r;
}

/*
 * The next CRL of CA i after the stored one (number), made from counter value
 * changes, signed and stored; or the one another worker or node stored first.
 */
static int
crl_publish_make(struct crl_publish *pub, size_t i, uint64_t number, uint64_t changes, time_t now)
{
	const struct config_ca *ca = &pub->cfg->cas[i];
	struct store *st = issuer_get0_store(pub->issuer);
	struct crl_publish_ca *c = &pub->cas[i];
	struct crl_publish_list list = { 0 };
	struct crl_publish_sign s = { 0 };
	struct store_crl *won = NULL;
	int r;

	if ((r = store_walk_revoked(st, ca->name, now, crl_publish_collect, &list)) < 0)
		goto out;
	s.params = (struct crl_params){
		.number = number,
		.this_update = now,
		.next_update = now + (time_t)ca->crl.days * 86400,
		.entries = list.v,
		.n_entries = list.n,
	};
	s.md = EVP_get_digestbyname(ca->digest != NULL ? ca->digest : "sha256");
	if ((r = issuer_with_ca_key(pub->issuer, i, crl_publish_sign_op, &s)) < 0)
		goto out;
	r = store_put_crl(st, &(struct store_crl){ .ca = ca->name,
						   .number = number,
						   .der = s.der,
						   .der_len = s.len,
						   .this_update = now,
						   .next_update = s.params.next_update,
						   .changes = changes });
	if (r == -ESTALE) { /* another one was first: serve that */
		if ((r = store_get_crl(st, ca->name, &won)) == 0)
			r = crl_publish_adopt(c, won);
		goto out;
	}
	if (r < 0)
		goto out;
	crl_published_clear(&c->cur);
	c->cur = (struct crl_published){ .der = s.der,
					 .der_len = s.len,
					 .number = number,
					 .this_update = now,
					 .next_update = s.params.next_update };
	c->changes = changes;
	s.der = NULL; /* the copy owns it now */
out:
	store_crl_free(won);
	OPENSSL_free(s.der);
	crl_publish_list_clear(&list);
	return r;
}

/* Bring CA i's copy up to date: from the store, or a new list. */
static int
crl_publish_refresh(struct crl_publish *pub, size_t i, time_t now)
{
	const struct config_ca *ca = &pub->cfg->cas[i];
	struct store *st = issuer_get0_store(pub->issuer);
	struct crl_publish_ca *c = &pub->cas[i];
	struct store_crl *stored = NULL;
	uint64_t changes = 0, number;
	int r;

	if ((r = store_revocation_changes(st, ca->name, &changes)) < 0)
		return r;
	if (c->cur.der != NULL && crl_publish_current(ca, c->changes, c->cur.this_update,
						      c->cur.next_update, changes, now))
		return 0;
	if ((r = store_get_crl(st, ca->name, &stored)) < 0 && r != -ENOENT)
		return r;
	if (stored != NULL && crl_publish_current(ca, stored->changes, stored->this_update,
						  stored->next_update, changes, now)) {
		r = crl_publish_adopt(c, stored);
		goto out;
	}
	number = stored != NULL ? stored->number + 1 : 1;
	if (c->cur.der != NULL && c->cur.number >= number)
		number = c->cur.number + 1;
	r = crl_publish_make(pub, i, number, changes, now);
	/* A list that cannot be made now (token gone): the stored one while it is valid. */
	if (r == -EAGAIN && stored != NULL && now < stored->next_update &&
	    (c->cur.der == NULL || stored->number > c->cur.number) &&
	    crl_publish_adopt(c, stored) < 0)
		r = -ENOMEM;
out:
	store_crl_free(stored);
	return r;
}

/*
 * Serve nothing older than the stored list: another worker or node may have stored
 * (and served) a newer one since this worker last checked, and a node must never
 * answer a lower cRLNumber after a higher one. Every list served was stored first and
 * the stored number only grows, so adopting a higher stored one on every request is
 * enough. A store that cannot be read leaves the copy as it is.
 */
static void
crl_publish_catch_up(struct crl_publish *pub, size_t i)
{
	struct crl_publish_ca *c = &pub->cas[i];
	struct store_crl *stored = NULL;

	if (c->cur.der == NULL ||
	    store_get_crl(issuer_get0_store(pub->issuer), pub->cfg->cas[i].name, &stored) < 0)
		return;
	if (stored->number > c->cur.number)
		(void)crl_publish_adopt(c, stored);
	store_crl_free(stored);
}

int
crl_publish_get(struct crl_publish *pub, size_t ca, struct crl_published *ret)
{
	struct crl_publish_ca *c = &pub->cas[ca];
	time_t now = time(NULL);
	int r = 0;

	pthread_mutex_lock(&c->lock);
	crl_publish_catch_up(pub, ca);
	if (c->cur.der == NULL || now - c->checked_at >= CRL_PUBLISH_CHECK_SECS ||
	    now >= c->cur.next_update) {
		r = crl_publish_refresh(pub, ca, now);
		if (r == 0)
			c->checked_at = now;
	}
	/* A valid list answers even when a newer one cannot be made right now. */
	if (c->cur.der != NULL && now < c->cur.next_update) {
		r = crl_publish_copy(&c->cur, ret);
		stats_crl_served(issuer_get0_stats(pub->issuer),
				 stats_find(issuer_get0_stats(pub->issuer), STATS_NAMES_CA,
					    pub->cfg->cas[ca].name),
				 (int64_t)c->cur.this_update);
	} else if (r == 0)
		r = -EIO; /* cannot be: a refresh that worked leaves a valid list */
	pthread_mutex_unlock(&c->lock);
	return r;
}
