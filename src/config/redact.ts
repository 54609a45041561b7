import { CONFIG_SCHEMA, NAMED_SECTION_SCHEMA, type Config, type KeySpec } from './schema.js';

/** What a hidden secret is replaced with. */
export const REDACTED = '***';

/**
 * Secrets shorter than this are not searched for: replacing a one- or two-character value would
 * mangle every word containing it while hiding next to nothing. Used by every redactor.
 */
export const MIN_SECRET_LENGTH = 4;

/** Names of environment variables whose values are secrets even though no config key holds them. */
const SECRET_ENV = /^(REPROVM_.*(KEY|TOKEN|SECRET|PASSWORD).*|AWS_SECRET_ACCESS_KEY|AWS_SESSION_TOKEN|AZURE_STORAGE_KEY|AZURE_STORAGE_CONNECTION_STRING|AZURE_STORAGE_SAS_TOKEN)$/;

/** Secret values held only in the environment (signing key, server token, cloud keys), to be redacted too. */
export function environmentSecrets(env: NodeJS.ProcessEnv): string[] {
  return Object.entries(env)
    .filter(([name, value]) => SECRET_ENV.test(name) && typeof value === 'string' && value.length >= MIN_SECRET_LENGTH)
    .map(([, value]) => value as string);
}

/** Query parameters that carry credentials (S3/GCS presigned URLs, Azure SAS, API keys). */
const SECRET_PARAM = /sig|signature|token|key|secret|password|passwd|credential|auth|code|session/i;

/**
 * A URL with its credentials hidden: user info, the values of credential query parameters, and
 * the secret path of Slack and Discord webhooks. Text that is not a URL is returned unchanged.
 */
export function redactUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return url;
  }
  let changed = false;
  if (u.username !== '' || u.password !== '') {
    u.username = REDACTED;
    u.password = '';
    changed = true;
  }
  for (const name of [...u.searchParams.keys()]) {
    if (SECRET_PARAM.test(name)) {
      u.searchParams.set(name, REDACTED);
      changed = true;
    }
  }
  if (/(^|\.)hooks\.slack\.com$/i.test(u.hostname) || /(^|\.)discord(app)?\.com$/i.test(u.hostname)) {
    const m = /^(\/services|\/api\/webhooks)\/.+/.exec(u.pathname);
    if (m) {
      u.pathname = `${m[1]}/${REDACTED}`;
      changed = true;
    }
  }
  // Unchanged URLs are returned as written (URL serialisation would normalise them).
  return changed ? u.toString().replaceAll(encodeURIComponent(REDACTED), REDACTED) : url;
}

/**
 * Every secret value of the configuration (schema `secret: true`) of at least
 * {@link MIN_SECRET_LENGTH} characters, plus `extra`, as written and JSON-escaped, longest first.
 */
export function secretValues(config: Config, extra: readonly string[] = []): string[] {
  const values: string[] = [...extra];
  for (const [section, keys] of Object.entries(CONFIG_SCHEMA)) {
    const current = (config as unknown as Record<string, Record<string, unknown>>)[section] ?? {};
    for (const [key, spec] of Object.entries<KeySpec>(keys)) {
      const v = current[key];
      if (spec.secret && typeof v === 'string' && v !== '') values.push(v);
    }
  }
  for (const kind of Object.keys(NAMED_SECTION_SCHEMA) as (keyof typeof NAMED_SECTION_SCHEMA)[]) {
    const keys: Record<string, KeySpec> = NAMED_SECTION_SCHEMA[kind];
    for (const entry of config[kind] as readonly Record<string, unknown>[]) {
      for (const [key, spec] of Object.entries(keys)) {
        const v = entry[key];
        if (spec.secret && typeof v === 'string' && v !== '') values.push(v);
      }
    }
  }
  const kept = [...new Set(values.filter((v) => v.length >= MIN_SECRET_LENGTH))];
  // Their JSON-escaped forms too, for secrets inside serialised log lines and events.
  const escaped = kept.map((v) => JSON.stringify(v).slice(1, -1)).filter((e) => !kept.includes(e));
  return [...kept, ...escaped].sort((a, b) => b.length - a.length);
}

const URL_IN_TEXT = /[a-z][a-z0-9+.-]*:\/\/[^\s"'<>]+/gi;

/**
 * Text with every configured secret replaced by `***` and every URL's credentials hidden
 * ({@link redactUrl}). For log lines, events, audit entries and error messages. Callers that
 * redact many strings (the audit log: every string of every entry) use {@link secretRedactor}.
 */
export function redactSecrets(text: string, config: Config): string {
  return secretRedactor(config)(text);
}

/**
 * {@link redactSecrets} with the secret list computed once, for redacting many strings; `extra`
 * adds secrets the configuration does not hold (see {@link environmentSecrets}).
 */
export function secretRedactor(config: Config, extra: readonly string[] = []): (text: string) => string {
  const secrets = secretValues(config, extra);
  return (text) => {
    let out = text;
    for (const secret of secrets) if (out.includes(secret)) out = out.split(secret).join(REDACTED);
    return out.includes('://') ? out.replace(URL_IN_TEXT, (url) => redactUrl(url)) : out;
  };
}
