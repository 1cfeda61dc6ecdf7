// Security keys (WebAuthn) on phigate's sign-in pages. Served from this origin: the pages' CSP allows
// no inline script and no eval. A form[data-webauthn] carries the server's options (JSON, binary members
// base64url); its button runs the browser's prompt, then the form posts the answer as JSON.
"use strict";

(function () {
  function toBytes(base64url) {
    const base64 = base64url.replace(/-/g, "+").replace(/_/g, "/");
    const binary = atob(base64 + "===".slice((base64.length + 3) % 4));
    return Uint8Array.from(binary, (c) => c.charCodeAt(0));
  }

  function toBase64url(buffer) {
    let binary = "";
    new Uint8Array(buffer).forEach((b) => { binary += String.fromCharCode(b); });
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function withBytes(descriptors) {
    return (descriptors || []).map((d) => Object.assign({}, d, { id: toBytes(d.id) }));
  }

  function creationOptions(options) {
    return Object.assign({}, options, {
      challenge: toBytes(options.challenge),
      user: Object.assign({}, options.user, { id: toBytes(options.user.id) }),
      excludeCredentials: withBytes(options.excludeCredentials),
    });
  }

  function requestOptions(options) {
    return Object.assign({}, options, {
      challenge: toBytes(options.challenge),
      allowCredentials: withBytes(options.allowCredentials),
    });
  }

  function answer(credential) {
    const r = credential.response;
    const response = { clientDataJSON: toBase64url(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toBase64url(r.attestationObject);
      response.transports = typeof r.getTransports === "function" ? r.getTransports() : [];
    } else {
      response.authenticatorData = toBase64url(r.authenticatorData);
      response.signature = toBase64url(r.signature);
      if (r.userHandle) response.userHandle = toBase64url(r.userHandle);
    }
    return JSON.stringify({
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      response: response,
      authenticatorAttachment: credential.authenticatorAttachment || undefined,
      clientExtensionResults: credential.getClientExtensionResults(),
    });
  }

  async function ceremony(form) {
    const options = JSON.parse(form.dataset.options);
    if (form.dataset.webauthn === "create") {
      return navigator.credentials.create({ publicKey: creationOptions(options) });
    }
    return navigator.credentials.get({ publicKey: requestOptions(options) });
  }

  function start(form) {
    const button = form.querySelector("[data-webauthn-start]");
    const status = form.querySelector("[data-webauthn-status]");
    if (!window.PublicKeyCredential || !navigator.credentials) return; // stays hidden: codes still work
    form.hidden = false;
    async function run() {
      button.disabled = true;
      status.textContent = "Follow your browser's prompt to use your security key.";
      try {
        form.elements.credential.value = answer(await ceremony(form));
        status.textContent = "Checking…";
        form.submit();
      } catch (error) {
        status.textContent = "The security key did not answer, or the request was cancelled. "
          + "Try again, or use a code.";
        button.disabled = false;
      }
    }
    button.addEventListener("click", run);
    form.addEventListener("submit", (event) => { // Enter in the name field: run the prompt instead
      if (!form.elements.credential.value) {
        event.preventDefault();
        if (!button.disabled) run();
      }
    });
  }

  document.querySelectorAll("form[data-webauthn]").forEach(start);
})();
