/*
 * The one place secrets are taken out of text before anyone sees it: log lines, audit events, JSON
 * output and error messages name URLs, and URLs carry credentials.
 */

/** `//user:password@` or `//token@`: the user info of any URL in a text. */
const USER_INFO = /(\/\/)([^/?#@\s:]*)(:[^/?#@\s]*)?@/gu;
/** `user:password@host` written without a scheme, at the start of the text or of a word. */
const BARE_USER_INFO = /(^|[\s"'(])([^/?#@\s:"'(]+):[^/?#@\s"']*@/gu;
const HTTP_URL = /https?:\/\/[^\s"'<>]+/giu;
const QUERY_VALUE = /([?&][^=&#]*=)[^&#]*/gu;
/** 16 or more letters, digits, `-` or `_` with a digit among them, as Slack's `/services/T0/B0/<secret>`. */
const TOKEN_SEGMENT = /\/(?=[\w-]*\d)[\w-]{16,}(?=[/?#]|$)/gu;

/**
 * Every URL in `text` without its secrets: a password becomes `***` (`http://op:***@h`), so does a lone
 * user name, often a token (`https://***@h`); in http(s) URLs, query values (`?token=…`) and path
 * segments shaped like tokens become `…`. The rest stays as it came, so the URL is still recognisable.
 */
export function redactUrl(text: string): string {
  return text
    .replace(USER_INFO, (_match, slashes: string, user: string, password: string | undefined) =>
      password === undefined ? `${slashes}***@` : `${slashes}${user}:***@`,
    )
    .replace(BARE_USER_INFO, '$1$2:***@')
    .replace(HTTP_URL, (found) => found.replace(QUERY_VALUE, '$1…').replace(TOKEN_SEGMENT, '/…'));
}

/** `text` with URL secrets redacted and every one of `secrets` (tokens, webhook secrets) replaced by `[redacted]`. */
export function scrubSecrets(text: string, secrets: readonly string[]): string {
  let clean = redactUrl(text);
  for (const secret of secrets) if (secret !== '') clean = clean.split(secret).join('[redacted]');
  return clean;
}
