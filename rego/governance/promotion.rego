# Model-promotion gate: a high-risk model may only be promoted with an
# explainability report whose score is at least 0.8.
#
# The model registry's view is data.governance.models[<model id>]:
#   {"risk_level": "low" | "medium" | "high", "explainability_report": {"score": 0.0..1.0, ...}}
# The model is the request's resource (input.resource.id).
#
# Entrypoint governance/promotion/decision answers an OPA-Envoy decision object;
# governance/promotion/allow a boolean.
package governance.promotion

import rego.v1

threshold := 0.8

model := data.governance.models[input.resource.id]

default decision := {"allowed": false, "reason": "model_unknown", "http_status": 403}

decision := gate if model

gate := {"allowed": true} if {
	model.risk_level != "high"
} else := {"allowed": false, "reason": "explainability_report_missing", "http_status": 403} if {
	not is_number(model.explainability_report.score)
} else := {"allowed": false, "reason": "explainability_score_too_low", "http_status": 403} if {
	model.explainability_report.score < threshold
} else := {"allowed": true}

default allow := false

allow if decision.allowed
