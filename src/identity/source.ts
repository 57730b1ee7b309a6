import type { IdentityResult } from '../decision/interfaces.js';
import type { AuthzRequest } from '../decision/types.js';

/**
 * One way of establishing identity. `undefined` means "this kind of
 * credential was not presented", and only then is the next source asked; a
 * presented credential always ends the search, as a principal or as invalid.
 */
export type IdentitySource = (req: AuthzRequest) => IdentityResult | Promise<IdentityResult> | undefined;
