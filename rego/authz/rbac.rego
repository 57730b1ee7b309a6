# Role-based access as policy: data.rbac.roles maps role → resource type (or
# "*") → actions (or "*"), the same shape as the sidecar's `rbac:` config, so a
# deployment can move its roles into a bundle (or inject them with policy.data).
package authz.rbac

import rego.v1

default allow := false

allow if {
	some role in input.principal.roles
	grants(data.rbac.roles[role])
}

grants(by_type) if permits(by_type[input.resource.type])

grants(by_type) if permits(by_type["*"])

permits(actions) if input.action in actions

permits(actions) if "*" in actions
