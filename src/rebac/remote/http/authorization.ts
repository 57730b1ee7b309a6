// The Authorization header of every OpenFGA call: none, OpenFGA's preshared
// key (`Bearer <api_token>`, a constant), or an OAuth2 client-credentials
// token. The token exchange is @openfga/sdk's own Credentials — the same
// issuer URL rules, form body, caching and refresh ahead of expiry (with
// jitter) as every OpenFGA SDK client — so a token is fetched once and
// refreshed in the background of one call, not per check.
import { Credentials, CredentialsMethod } from '@openfga/sdk';
import type { RemoteConfig } from '../../config.js';
import { UpstreamError } from '../upstream-error.js';

export interface AuthorizationSource {
  /** The header value now; a constant (no promise) unless a token must be fetched or refreshed. */
  header(): string | undefined | Promise<string | undefined>;
}

export function authorizationFor(config: RemoteConfig): AuthorizationSource {
  if (config.api_token !== undefined) {
    const value = `Bearer ${config.api_token}`;
    return { header: () => value };
  }
  const cc = config.client_credentials;
  if (cc === undefined) return { header: () => undefined };
  const credentials = new Credentials(
    {
      method: CredentialsMethod.ClientCredentials,
      config: { apiTokenIssuer: cc.api_token_issuer, apiAudience: cc.api_audience, clientId: cc.client_id, clientSecret: cc.client_secret },
    },
    undefined,
    // No SDK telemetry: the sidecar's own metrics count upstream calls.
    { metrics: {} } as ConstructorParameters<typeof Credentials>[2],
  );
  return {
    header: () =>
      credentials.getAccessTokenHeader().then(
        (h) => h?.value,
        (err: unknown) => {
          throw new UpstreamError('auth', `OpenFGA token exchange failed: ${err instanceof Error ? err.message : String(err)}`);
        },
      ),
  };
}
