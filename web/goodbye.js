// The goodbye of a page (pyclient's Session.goodbye): its requests, sent with keepalive, and its
// record, kept in localStorage for the next page of this origin (through `store`) until every
// request was answered 200 and they carried all of it. Used by the loader at pagehide, and by
// host.mjs for what changed after the loader's last farewell.
export function sendGoodbye({ requests, key, record, complete }, store) {
  if (key && record) store(key, record);
  const sent = requests.map((r) =>
    fetch(r.url, { method: "POST", headers: r.headers, body: r.body, keepalive: true, credentials: "omit" })
      .then((answer) => answer.ok, () => false));
  if (key && complete) Promise.all(sent).then((oks) => oks.every(Boolean) && store(key, null));
}
