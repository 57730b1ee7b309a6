package governance.promotion_test

import rego.v1

import data.governance.promotion

models := {
	"fraud-v3": {"risk_level": "high", "explainability_report": {"score": 0.86}},
	"fraud-v4": {"risk_level": "high", "explainability_report": {"score": 0.79}},
	"fraud-v5": {"risk_level": "high", "explainability_report": {"score": 0.8}},
	"fraud-v6": {"risk_level": "high"},
	"fraud-v7": {"risk_level": "high", "explainability_report": {"score": "high"}},
	"ranker-v2": {"risk_level": "low"},
}

promote(id) := {"action": "promote", "resource": {"type": "model", "id": id, "tenant": "acme"}}

test_high_risk_with_good_report_is_promoted if {
	promotion.allow with input as promote("fraud-v3") with data.governance.models as models
	promotion.allow with input as promote("fraud-v5") with data.governance.models as models
}

test_high_risk_with_low_score_is_refused if {
	d := promotion.decision with input as promote("fraud-v4") with data.governance.models as models
	d == {"allowed": false, "reason": "explainability_score_too_low", "http_status": 403}
}

test_high_risk_without_report_is_refused if {
	promotion.decision.reason == "explainability_report_missing" with input as promote("fraud-v6") with data.governance.models as models
	promotion.decision.reason == "explainability_report_missing" with input as promote("fraud-v7") with data.governance.models as models
}

test_low_risk_needs_no_report if {
	promotion.allow with input as promote("ranker-v2") with data.governance.models as models
}

test_unknown_model_is_refused if {
	promotion.decision.reason == "model_unknown" with input as promote("nope") with data.governance.models as models
}
