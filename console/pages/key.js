/** API key entry: the key is checked against the API (`GET /whoami`), then kept in sessionStorage. */
import { ApiError, call, setKey } from "../api.js";
import { h, notice } from "../dom.js";
import { navigate } from "../router.js";
import { forgetSession } from "../session.js";
import { errorMessage, page } from "../ui.js";

/** @param {import("../navigation.js").Navigation} nav */
export function keyPage(nav) {
  const reason = sessionStorage.getItem("tenant-provisioning.signOutReason");
  sessionStorage.removeItem("tenant-provisioning.signOutReason");
  const feedback = h("div", { class: "feedback" }, reason ? notice("error", reason) : null);
  const input = /** @type {HTMLInputElement} */ (
    h("input", {
      id: "api-key",
      name: "apiKey",
      type: "password",
      autocomplete: "off",
      spellcheck: "false",
      required: true,
      "data-testid": "key-input",
      "aria-describedby": "api-key-help",
    })
  );
  const submit = h("button", { type: "submit", class: "button", "data-testid": "key-submit" }, "Continue");
  const form = h(
    "form",
    { class: "stack" },
    h("div", { class: "field" }, h("label", { for: "api-key" }, "API key"), input),
    h(
      "p",
      { id: "api-key-help", class: "help" },
      "An admin key (local mode writes one to ",
      h("code", {}, "$DATA_DIR/admin-api-key"),
      "), or a tenant admin key for one tenant's runs. It stays in this browser tab's session storage and is sent only to this service.",
    ),
    feedback,
    submit,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = input.value.trim();
    if (!key) return;
    submit.setAttribute("disabled", "");
    try {
      await call("whoami", { key, signal: null });
      forgetSession();
      setKey(key);
      navigate("#/runs");
    } catch (error) {
      feedback.replaceChildren(
        notice(
          "error",
          error instanceof ApiError && error.status === 401
            ? "This API key was not accepted."
            : errorMessage(error),
          { "data-testid": "key-error" },
        ),
      );
    } finally {
      submit.removeAttribute("disabled");
    }
  });
  page(
    nav,
    "Sign in",
    h(
      "div",
      { class: "signin" },
      h("h1", {}, "Tenant Provisioning Console"),
      h("p", { class: "lead" }, "Templates, provisioning runs and their state machines, live."),
      form,
    ),
  );
  input.focus();
}
