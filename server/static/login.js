"use strict";

document.getElementById("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new URLSearchParams(new FormData(event.target));
  const error = document.getElementById("login-error");
  error.textContent = "";
  try {
    await api("/login/access-token", { method: "POST", body: form });
    const next = new URLSearchParams(location.search).get("next") || "/";
    // Only same-site paths: never an open redirect.
    location.href = next.startsWith("/") && !next.startsWith("//") ? next : "/";
  } catch (err) {
    error.textContent = err.message;
  }
});
