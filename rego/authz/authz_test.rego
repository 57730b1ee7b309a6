package authz_test

import rego.v1

import data.authz

alice_reads_acme := {
	"principal": {"id": "alice", "tenant": "acme", "roles": ["viewer"]},
	"resource": {"type": "project", "id": "p1", "tenant": "acme"},
	"action": "read",
}

test_same_tenant_with_role_allows if {
	authz.allow with input as alice_reads_acme
	authz.decision == {"allowed": true} with input as alice_reads_acme
}

test_other_tenant_denies_even_admin if {
	inp := object.union(alice_reads_acme, {
		"principal": {"id": "root", "tenant": "globex", "roles": ["admin"]},
	})
	not authz.allow with input as inp
	authz.decision.reason == "tenant_mismatch" with input as inp
}

test_no_tenant_denies if {
	inp := object.union(alice_reads_acme, {"principal": {"id": "anon", "tenant": null, "roles": ["admin"]}})
	not authz.allow with input as inp
	authz.decision.reason == "no_tenant" with input as inp
}

test_empty_resource_tenant_denies if {
	inp := object.union(alice_reads_acme, {"resource": {"type": "project", "id": "p1", "tenant": ""}})
	authz.decision.reason == "no_tenant" with input as inp
}

test_viewer_cannot_write if {
	inp := object.union(alice_reads_acme, {"action": "write"})
	not authz.allow with input as inp
	authz.decision == {"allowed": false, "reason": "rbac_denied", "http_status": 403} with input as inp
}

test_editor_writes_admin_deletes if {
	authz.allow with input as object.union(alice_reads_acme, {
		"action": "write",
		"principal": {"id": "bob", "tenant": "acme", "roles": ["editor"]},
	})
	authz.allow with input as object.union(alice_reads_acme, {
		"action": "delete",
		"principal": {"id": "carol", "tenant": "acme", "roles": ["admin"]},
	})
}

test_roles_come_from_data if {
	roles := {"auditor": {"report": ["export"]}}
	inp := object.union(alice_reads_acme, {
		"action": "export",
		"resource": {"type": "report", "id": "r1", "tenant": "acme"},
		"principal": {"id": "dora", "tenant": "acme", "roles": ["auditor"]},
	})
	authz.allow with input as inp with data.rbac.roles as roles
	not authz.allow with input as object.union(inp, {"action": "delete"}) with data.rbac.roles as roles
}

test_unknown_role_denies if {
	not authz.allow with input as object.union(alice_reads_acme, {"principal": {"id": "eve", "tenant": "acme", "roles": ["intern"]}})
}
