# Data residency: a tenant's data may only be touched in its allowed regions.
#
# Per tenant, in data.residency.tenants[<tenant>] (from a data bundle or the
# sidecar's `policy.data`):
#   allowed_regions  list of region names, e.g. ["eu-west-1", "eu-central-1"]
#   enforcement      "deny" (default) | "dryrun" | "warn"
#   expires          optional UTC timestamp in input.now's form ("2026-01-01T00:00:00Z",
#                    whole seconds, trailing Z) or a date ("2026-01-01"); from then on
#                    the rule no longer applies
#
# The request's region is the x-data-region header, else the `region` query
# parameter, else the destination's `region` label. The clock is input.now
# (the sidecar's time as "YYYY-MM-DDTHH:MM:SSZ"; the opa-wasm SDK offers no
# time.now_ns), compared with `expires` as a string, which is exact for that form.
#
# Entrypoint residency/decision answers an OPA-Envoy decision object:
#   deny    → {"allowed": false, "reason": "data_region_not_allowed" | "data_region_missing", "http_status": 403}
#   warn    → allowed, with an x-residency-warning header upstream and downstream
#   dryrun  → allowed, with an x-residency-dryrun header upstream only
package residency

import rego.v1

tenant := input.resource.tenant

config := data.residency.tenants[tenant]

default enforcement := "deny"

enforcement := config.enforcement if config.enforcement in {"deny", "dryrun", "warn"}

request_region := r if {
	r := input.attributes.request.http.headers["x-data-region"]
} else := r if {
	r := input.parsed_query.region[0]
} else := r if {
	r := input.attributes.destination.labels.region
}

expired if {
	config.expires
	input.now >= config.expires
}

applies if {
	config
	not expired
}

violation := "data_region_missing" if {
	applies
	not request_region
} else := "data_region_not_allowed" if {
	applies
	not request_region in config.allowed_regions
}

default decision := {"allowed": true}

decision := {"allowed": false, "reason": violation, "http_status": 403} if {
	violation
	enforcement == "deny"
}

decision := {
	"allowed": true,
	"headers": {"x-residency-warning": violation},
	"response_headers_to_add": {"x-residency-warning": violation},
} if {
	violation
	enforcement == "warn"
}

decision := {"allowed": true, "headers": {"x-residency-dryrun": violation}} if {
	violation
	enforcement == "dryrun"
}

default allow := false

allow if decision.allowed
