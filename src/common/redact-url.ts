/**
 * A URL as it may appear in a message or log: credentials and the query replaced, since tokens live in
 * both (`https://user:token@host/`, signed CDN links `?X-Amz-Signature=...`).
 */
export function redactUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return text.replace(/\/\/[^/@]*@/, '//***@').replace(/\?.*$/s, '?***');
  }
  if (url.username !== '' || url.password !== '') {
    url.username = '***';
    url.password = '';
  }
  if (url.search !== '') url.search = '?***';
  return url.href;
}
