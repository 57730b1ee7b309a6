// OpenFGA's error vocabulary: the snake_case code the HTTP API returns, its
// number in openfga.proto's ErrorCode enums, and the HTTP status it travels with.
// Everything that rejects a model, a tuple or a request throws FgaCheckError so
// the embedded engine, the file loader and the HTTP API report the same way.

const VALIDATION_CODES: Record<string, number> = {
  validation_error: 2000,
  authorization_model_not_found: 2001,
  authorization_model_resolution_too_complex: 2002,
  invalid_write_input: 2003,
  cannot_allow_duplicate_tuples_in_one_request: 2004,
  cannot_allow_duplicate_types_in_one_request: 2005,
  cannot_allow_multiple_references_to_one_relation: 2006,
  invalid_continuation_token: 2007,
  invalid_tuple_set: 2008,
  invalid_check_input: 2009,
  invalid_object_format: 2012,
  write_failed_due_to_invalid_input: 2017,
  latest_authorization_model_not_found: 2020,
  type_not_found: 2021,
  relation_not_found: 2022,
  empty_relation_definition: 2023,
  invalid_user: 2025,
  invalid_tuple: 2027,
  unknown_relation: 2028,
  store_id_invalid_length: 2030,
  id_too_long: 2034,
  tuple_key_value_not_specified: 2037,
  tuple_keys_too_many_or_too_few_items: 2038,
  page_size_invalid: 2039,
  param_missing_value: 2040,
  type_definitions_too_few_items: 2045,
  query_string_type_continuation_token_mismatch: 2052,
  exceeded_entity_limit: 2053,
  invalid_contextual_tuple: 2054,
  duplicate_contextual_tuple: 2055,
  invalid_authorization_model: 2056,
  unsupported_schema_version: 2057,
  invalid_start_time: 2058,
};

const INTERNAL_CODES: Record<string, number> = {
  internal_error: 4000,
  cancelled: 4003,
  deadline_exceeded: 4004,
  resource_exhausted: 4006,
};

const NOT_FOUND_CODES: Record<string, number> = {
  undefined_endpoint: 5000,
  store_id_not_found: 5002,
  unimplemented: 5004,
};

/** The numeric ErrorCode for a snake_case code, as OpenFGA's conformance suite names them. */
export function numericErrorCode(code: string): number | undefined {
  return VALIDATION_CODES[code] ?? INTERNAL_CODES[code] ?? NOT_FOUND_CODES[code];
}

function statusFor(code: string): number {
  if (code in NOT_FOUND_CODES) return 404;
  if (code === 'resource_exhausted') return 429;
  if (code === 'deadline_exceeded') return 504;
  if (code in INTERNAL_CODES) return 500;
  return 400;
}

export class FgaCheckError extends Error {
  readonly code: string;
  readonly numericCode: number | undefined;
  readonly httpStatus: number;

  constructor(code: string, message: string, httpStatus?: number) {
    super(message);
    this.name = 'FgaCheckError';
    this.code = code;
    this.numericCode = numericErrorCode(code);
    this.httpStatus = httpStatus ?? statusFor(code);
  }
}

export function validationError(message: string): FgaCheckError {
  return new FgaCheckError('validation_error', message);
}
