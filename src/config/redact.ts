import { CONFIG_SCHEMA, NAMED_SECTION_SCHEMA, type Config, type KeySpec } from './schema.js';

/** What a hidden secret is replaced with. */
export const REDACTED = '***';

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

/** Every non-empty secret value of the configuration (schema `secret: true`), as written and JSON-escaped, longest first. */
export function secretValues(config: Config): string[] {
  const values: string[] = [];
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
  // Their JSON-escaped forms too, for secrets inside serialised log lines and events.
  const escaped = values.map((v) => JSON.stringify(v).slice(1, -1)).filter((e) => !values.includes(e));
  return [...values, ...escaped].sort((a, b) => b.length - a.length);
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

/** {@link redactSecrets} with the secret list computed once, for redacting many strings. */
export function secretRedactor(config: Config): (text: string) => string {
  const secrets = secretValues(config);
  return (text) => {
    let out = text;
    for (const secret of secrets) if (out.includes(secret)) out = out.split(secret).join(REDACTED);
    return out.includes('://') ? out.replace(URL_IN_TEXT, (url) => redactUrl(url)) : out;
  };
}
