# Tenant isolation as policy: the caller's tenant must own the resource.
# Like the built-in `tenant` stage, no role crosses tenants — not even admin.
package authz.tenant

import rego.v1

default allow := false

allow if {
	known(input.principal.tenant)
	known(input.resource.tenant)
	input.principal.tenant == input.resource.tenant
}

# A reason code when it does not hold.
reason := "no_tenant" if {
	not known(input.principal.tenant)
} else := "no_tenant" if {
	not known(input.resource.tenant)
} else := "tenant_mismatch" if {
	not allow
}

known(t) if {
	is_string(t)
	t != ""
}
