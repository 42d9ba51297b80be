"use strict";

// Where to go after signing in: a path on this site, else "/". Never an open redirect:
// a scheme, a host, "//", backslashes (browsers read "\" as "/"), control characters,
// and their %-escapes all fall back to "/". Mirrors server/pages.py:safe_next.
function safeNext(target) {
  if (!target || !target.startsWith("/")) return "/";
  let decoded;
  try {
    decoded = decodeURIComponent(target);
  } catch {
    return "/";
  }
  if (decoded.startsWith("//") || decoded.includes("\\") || /[\u0000-\u001f]/.test(decoded)) {
    return "/";
  }
  const url = new URL(target, location.origin);
  return url.origin === location.origin ? url.pathname + url.search + url.hash : "/";
}

document.getElementById("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new URLSearchParams(new FormData(event.target));
  const error = document.getElementById("login-error");
  error.textContent = "";
  try {
    await api("/login/access-token", { method: "POST", body: form });
    location.href = safeNext(new URLSearchParams(location.search).get("next"));
  } catch (err) {
    error.textContent = err.message;
  }
});
