// Sign in and sign up (the core's auth API: POST /api/v1/auth/login, /api/v1/auth/register).
import { useState } from "preact/hooks";
import { Link, html, navigate, title } from "../ui.js";
import { signIn, signUp } from "../api.js";

function nextPath() {
  const next = new URLSearchParams(location.search).get("next") || "/";
  return next.startsWith("/") && !next.startsWith("//") ? next : "/";  // only addresses of this site
}

function message(err) {
  const p = err.problem || {};
  if (Array.isArray(p.errors) && p.errors.length) return p.errors.map((e) => e.msg || e.message).join("; ");
  return err.message;
}

export default function Auth({mode}) {
  const signup = mode === "signup";
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [name, setName] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  title(signup ? "Sign up" : "Sign in");
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      if (signup) await signUp(email.trim(), password, name.trim());
      else await signIn(email.trim(), password);
      navigate(nextPath(), {replace: true});
    } catch (err) {
      setError(message(err));
      setBusy(false);
    }
  };
  const other = signup ? ["/signin", "I have an account: sign in"] : ["/signup", "New here? Sign up"];
  return html`<section class="form">
    <h1>${signup ? "Create your account" : "Sign in"}</h1>
    <form onSubmit=${submit} aria-describedby=${error ? "auth-error" : undefined}>
      ${signup ? html`<label for="name">Name (shown to artists)</label>
        <input id="name" autocomplete="nickname" value=${name} onInput=${(e) => setName(e.currentTarget.value)} />` : null}
      <label for="email">Email</label>
      <input id="email" type="email" required autocomplete="email" value=${email}
             onInput=${(e) => setEmail(e.currentTarget.value)} />
      <label for="password">Password${signup ? " (at least 8 characters)" : ""}</label>
      <input id="password" type="password" required autocomplete=${signup ? "new-password" : "current-password"}
             value=${password} onInput=${(e) => setPassword(e.currentTarget.value)} />
      ${error ? html`<p id="auth-error" class="error" role="alert">${error}</p>` : null}
      <div><button type="submit" disabled=${busy}>${signup ? "Sign up" : "Sign in"}</button></div>
    </form>
    <p><${Link} href=${other[0] + location.search}>${other[1]}</${Link}></p>
  </section>`;
}
