# The default entrypoints for routes that prefer policy-as-code over the
# built-in tenant and rbac stages:
#   authz/allow     boolean
#   authz/decision  {allowed, reason, http_status} with the sidecar's reason codes
package authz

import rego.v1

default allow := false

allow if {
	data.authz.tenant.allow
	data.authz.rbac.allow
}

decision := {"allowed": true} if {
	allow
} else := {"allowed": false, "reason": data.authz.tenant.reason, "http_status": 403} if {
	not data.authz.tenant.allow
} else := {"allowed": false, "reason": "rbac_denied", "http_status": 403}
