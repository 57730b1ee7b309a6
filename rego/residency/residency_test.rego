package residency_test

import rego.v1

import data.residency

tenants := {
	"acme": {"allowed_regions": ["eu-west-1", "eu-central-1"], "enforcement": "deny"},
	"globex": {"allowed_regions": ["us-east-1"], "enforcement": "warn"},
	"initech": {"allowed_regions": ["ap-south-1"], "enforcement": "dryrun"},
	"umbrella": {"allowed_regions": ["eu-west-1"], "expires": "2025-01-01T00:00:00Z"},
	"hooli": {"allowed_regions": ["eu-west-1"], "enforcement": "sometimes"},
}

request(tenant, region) := {
	"resource": {"type": "dataset", "id": "d1", "tenant": tenant},
	"attributes": {"request": {"http": {"headers": {"x-data-region": region}}}},
	"now": "2024-06-01T12:00:00Z",
}

test_allowed_region_allows if {
	residency.decision == {"allowed": true} with input as request("acme", "eu-central-1") with data.residency.tenants as tenants
}

test_other_region_denies if {
	d := residency.decision with input as request("acme", "us-east-1") with data.residency.tenants as tenants
	d == {"allowed": false, "reason": "data_region_not_allowed", "http_status": 403}
	not residency.allow with input as request("acme", "us-east-1") with data.residency.tenants as tenants
}

test_missing_region_denies if {
	inp := {"resource": {"tenant": "acme"}, "now": "2024-06-01T00:00:00Z"}
	residency.decision.reason == "data_region_missing" with input as inp with data.residency.tenants as tenants
}

test_region_from_query_and_labels if {
	q := {"resource": {"tenant": "acme"}, "parsed_query": {"region": ["eu-west-1"]}, "now": "2024-06-01T00:00:00Z"}
	residency.decision.allowed with input as q with data.residency.tenants as tenants
	l := {"resource": {"tenant": "acme"}, "attributes": {"destination": {"labels": {"region": "us-east-1"}}}, "now": "2024-06-01T00:00:00Z"}
	not residency.decision.allowed with input as l with data.residency.tenants as tenants
}

test_warn_allows_with_header if {
	d := residency.decision with input as request("globex", "eu-west-1") with data.residency.tenants as tenants
	d.allowed
	d.headers["x-residency-warning"] == "data_region_not_allowed"
	d.response_headers_to_add["x-residency-warning"] == "data_region_not_allowed"
}

test_dryrun_allows_and_marks_upstream if {
	d := residency.decision with input as request("initech", "eu-west-1") with data.residency.tenants as tenants
	d == {"allowed": true, "headers": {"x-residency-dryrun": "data_region_not_allowed"}}
}

test_expired_rule_no_longer_applies if {
	before := object.union(request("umbrella", "us-east-1"), {"now": "2024-12-31T23:59:59Z"})
	not residency.decision.allowed with input as before with data.residency.tenants as tenants
	after := object.union(request("umbrella", "us-east-1"), {"now": "2025-01-01T00:00:00Z"})
	residency.decision == {"allowed": true} with input as after with data.residency.tenants as tenants
}

test_unknown_enforcement_means_deny if {
	not residency.decision.allowed with input as request("hooli", "us-east-1") with data.residency.tenants as tenants
}

test_tenant_without_rule_is_unrestricted if {
	residency.decision == {"allowed": true} with input as request("nobody", "mars-1") with data.residency.tenants as tenants
}
