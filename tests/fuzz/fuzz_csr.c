/*
 * fuzz_csr.c - libFuzzer target for what /csr does with a body before signing:
 * decoding (PEM, DER, base64), the self-signature check and the policy, with rules
 * that copy and count every subject field and SAN type and set values with variables.
 */
#include <stdint.h>
#include <stdlib.h>

#include "scepd/csr_body.h"
#include "scepd/policy.h"
#include "scepd/signer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct config_field_rule subject_rules[] = { { "*", CONFIG_COUNT_UNLIMITED },
							    { "CN", 1 } };
	static struct config_pair subject_set[] = { { "OU", "%{REMOTE_USER}", 1 } };
	static struct config_field_rule san_rules[] = { { "dNSName", 3 },
							{ "iPAddress", 2 },
							{ "rfc822Name", 1 },
							{ "uniformResourceIdentifier", 1 } };
	static struct config_pair san_set[] = { { "dNSName", "%{REMOTE_ADDR}.example", 1 } };
	const struct config_name_policy subject = { { subject_rules, 2 }, { subject_set, 1 } };
	const struct config_name_policy san = { { san_rules, 4 }, { san_set, 1 } };
	const struct policy_vars vars = { "192.0.2.1", "fuzzer" };
	struct policy_decision d = { 0 };
	X509_REQ *csr = NULL;

	if (csr_body_decode(data, size, &csr) < 0)
		return 0;
	(void)signer_verify_csr(csr);
	if (policy_check(&subject, &san, csr, &vars, &d) == 0)
		policy_decision_clear(&d);
	X509_REQ_free(csr);
	return 0;
}
