/**
 * The S3 client of one run, configured the way the AWS tools are: credentials from the SDK's default
 * chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN, AWS_PROFILE with ~/.aws/credentials
 * and ~/.aws/config, …), AWS_REGION, AWS_ENDPOINT_URL or a job's `endpoint`/`pathStyle`. Retries (with
 * backoff, on 500/503/SlowDown and connection resets) are the SDK's standard mode.
 */
import { S3Client } from './sdk.js';
import { UsageError } from '../../common/errors.js';

export interface S3Settings {
  readonly endpoint?: string;
  readonly pathStyle?: boolean;
  readonly region?: string;
  /** A request whose socket is silent this long is given up (and retried as any transient failure). */
  readonly stallTimeoutMs?: number;
}

const MAX_ATTEMPTS = 6;
/**
 * Without these a store that stops answering (a full Ceph cluster blocks its writes) holds a run, or
 * the daemon's job, forever. rclone's defaults are 5 minutes idle and 1 minute to connect.
 */
const DEFAULT_STALL_TIMEOUT_MS = 120_000;
const CONNECT_TIMEOUT_MS = 30_000;

/**
 * Signs every request that carries a Content-MD5 header with the SigV4 payload hash UNSIGNED-PAYLOAD
 * instead of the body's SHA-256. That header is signed and the store refuses a body that does not match
 * it, so the body stays protected (forging it needs an MD5 second preimage), and the client skips one
 * SHA-256 pass over every byte sent, the store another (it no longer checks the payload hash). The signer
 * takes an x-amz-content-sha256 header that is already set as the payload hash. On the client's stack,
 * not a command's: the client caches each command class's resolved stack (`cacheMiddleware`).
 */
function signMd5BodiesUnsigned(client: S3Client): void {
  client.middlewareStack.add(
    (next) => (args) => {
      const headers = (args.request as { headers?: Record<string, string> }).headers;
      if (headers?.['content-md5'] !== undefined) headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
      return next(args);
    },
    { step: 'build', name: 'backupdUnsignedPayload' },
  );
}

export function makeClient(settings: S3Settings, connections: number): S3Client {
  // The SDK warns on stderr of every run that its future versions need Node 22: news for us, not the user.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const endpoint = settings.endpoint ?? process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL;
  const client = new S3Client({
    region: settings.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
    ...(endpoint === undefined ? {} : { endpoint }),
    // A self-hosted store (a custom endpoint) rarely has wildcard DNS for bucket names.
    forcePathStyle: settings.pathStyle ?? endpoint !== undefined,
    maxAttempts: MAX_ATTEMPTS,
    retryMode: 'standard',
    // Objects are verified by Content-MD5 and the ETag (below); trailing CRC checksums are not needed.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: {
      httpsAgent: { maxSockets: connections, keepAlive: true },
      httpAgent: { maxSockets: connections, keepAlive: true },
      connectionTimeout: CONNECT_TIMEOUT_MS,
      socketTimeout: settings.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS,
    },
    // Each command class's middleware is resolved once, not per request: a fifth less CPU per small PUT.
    cacheMiddleware: true,
  });
  signMd5BodiesUnsigned(client);
  return client;
}

/** An ETag as hex to compare: S3 quotes it, and it is the MD5 (of the object, or of a part) for what backupd writes. */
export function etagHex(etag: string | undefined): string {
  return (etag ?? '').replaceAll('"', '').toLowerCase();
}

interface SdkError {
  readonly name?: string;
  readonly code?: string;
  readonly $metadata?: { readonly httpStatusCode?: number };
  readonly $response?: { readonly headers?: Readonly<Record<string, string | undefined>> };
}

/**
 * One line for what went wrong talking to the store, without any secret (the SDK's messages may carry
 * request details, so they are not passed through for the known cases).
 */
export function describeS3Error(err: unknown, where: string): UsageError {
  const e = (err ?? {}) as SdkError;
  const status = e.$metadata?.httpStatusCode;
  const name = e.name ?? e.code ?? '';
  if (name === 'CredentialsProviderError' || /credential/i.test(String((err as Error)?.message ?? '')) && status === undefined) {
    return new UsageError(`${where}: no AWS credentials found (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE)`, 'ES3CREDENTIALS');
  }
  if (name === 'InvalidAccessKeyId' || name === 'SignatureDoesNotMatch' || name === 'AccessDenied' || status === 403) {
    return new UsageError(`${where}: access denied: wrong credentials, or no permission for this bucket`, 'ES3ACCESS');
  }
  if (name === 'NoSuchBucket' || name === 'NotFound' || status === 404) return new UsageError(`${where}: no such bucket`, 'ES3NOBUCKET');
  // AWS names the bucket's region in a header of its 301 (global endpoint) or 400 (another regional one).
  const region = e.$response?.headers?.['x-amz-bucket-region'];
  if (region !== undefined && (status === 301 || status === 400)) {
    return new UsageError(`${where}: the bucket is in region ${region} (set AWS_REGION=${region}, or region in the job)`, 'ES3REGION');
  }
  if (name === 'PermanentRedirect' || name === 'AuthorizationHeaderMalformed' || status === 301) {
    return new UsageError(`${where}: the bucket is in another region (set AWS_REGION)`, 'ES3REGION');
  }
  if (['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'ECONNRESET', 'EHOSTUNREACH'].includes(name) || status === undefined) {
    return new UsageError(`${where}: the endpoint cannot be reached (${name || 'no answer'})`, 'ES3UNREACHABLE');
  }
  return new UsageError(`${where}: the store answered ${status} ${name}`, 'ES3');
}

/** A per-entry failure's code and message from an SDK error (no secrets: name and status only). */
export function s3FailureData(err: unknown): { code: string; message: string } {
  const e = (err ?? {}) as SdkError;
  const status = e.$metadata?.httpStatusCode;
  const name = e.name ?? e.code ?? 'ES3';
  if (typeof (err as NodeJS.ErrnoException)?.code === 'string' && status === undefined) {
    return { code: (err as NodeJS.ErrnoException).code as string, message: String((err as Error).message) };
  }
  return { code: name, message: status === undefined ? name : `the store answered ${status} ${name}` };
}
