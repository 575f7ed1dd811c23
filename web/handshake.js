// The first handshake of a page (SPEC part 2: /authenticate), run by the loader the moment the
// page calls initialize, while Python is still starting: integrations that add their fabrics from
// csInitCallback must hear it as soon as the deployed client would tell them (tens of ms), not
// after Python's start. Python adopts the answer (pyclient/handshake.py: early_handshake) and owns
// the protocol from then on, renewals included.
//
// What goes on the wire is pyclient's: the form and the AppSecret's code are byte for byte what
// pyclient.handshake.form and pyclient.auth.basic_code make, and `outcome` reads an answer by the
// rules of Handshake._outcome with its wording (META.handshake); tests/unit/test_handshake_js.py
// runs both sides on the same inputs.

// WebCrypto signs the AppSecret's code; it exists only in secure contexts (https, localhost).
// Without it the loader runs no handshake and Python makes the first one.
export function canSign() {
  return typeof crypto !== "undefined" && !!crypto.subtle && typeof TextEncoder === "function";
}

// The handshake for initialize's projected arguments: {status, text} ({status: null}: the network
// failed), {error} when the page's token generator failed, or null where the loader cannot sign
// (Python then makes it). `tokenFrom(forceNew)` asks the page's tokenGenerator.
export async function handshake({ authURL, appId, userId, secret, tokenFrom, grantType }) {
  let code;
  if (typeof secret === "string") {
    code = await basicCode(appId, userId, secret, Math.floor(Date.now() / 1000)).catch(() => null);
    if (code === null) return null;
  } else {
    try {
      code = String(await tokenFrom(false));
    } catch (err) {
      return { error: String((err && err.message) || err) };
    }
  }
  try {
    const answer = await fetch(authURL + "authenticate", {
      method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: form(userId, appId, code, grantType), credentials: "omit",
    });
    return { status: answer.status, text: await answer.text() };
  } catch (err) {
    return { status: null, text: "" };
  }
}

// pyclient.handshake.Handshake._outcome: the answer -> [csError status, message] for csInitCallback.
export function outcome(result, messages) {
  if (result.error !== undefined) return ["tokenGenerationError", messages.tokenGenerationError.replace("{error}", result.error)];
  if (result.status === null || result.status >= 500) return ["httpError", messages.httpError];
  let data = {};
  try {
    const parsed = JSON.parse(result.text);
    if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) data = parsed;
  } catch (err) {
    // not JSON: no fields
  }
  if (result.status !== 200 || data.token_type !== "bearer") {
    return ["authError", data.error_description || messages.authError.replace("{status}", String(result.status))];
  }
  return ["success", messages.success];
}

// pyclient.auth.basic_code: an HS256 JWT as PyJWT encodes it (sorted header, claims in this
// order, JSON without spaces and with every non-ASCII character escaped).
export async function basicCode(appId, userId, secret, iat) {
  const header = b64url(utf8(asciiJson({ alg: "HS256", typ: "JWT" })));
  const claims = b64url(utf8(asciiJson({ userID: userId, appID: appId, generateTurnCredentials: false, iat })));
  const key = await crypto.subtle.importKey("raw", utf8(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const signature = await crypto.subtle.sign("HMAC", key, utf8(`${header}.${claims}`));
  return `${header}.${claims}.${b64url(new Uint8Array(signature))}`;
}

// pyclient.handshake.form: urlencode of grant_type, client_id (the user id quoted, "@", the
// AppID) and code, as Python's urllib quotes them.
export function form(userId, appId, code, grantType = "authorization_code") {
  const pairs = [["grant_type", grantType], ["client_id", `${quote(userId)}@${appId}`], ["code", code]];
  return pairs.map(([name, value]) => `${quotePlus(name)}=${quotePlus(value)}`).join("&");
}

// urllib.parse.quote(text, safe=""): encodeURIComponent leaves !'()* as they are, Python does not
function quote(text) {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());
}

function quotePlus(text) {
  return quote(text).replace(/%20/g, "+");
}

function asciiJson(value) {
  return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"));
}

function utf8(text) {
  return new TextEncoder().encode(text);
}

function b64url(bytes) {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
