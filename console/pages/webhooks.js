/**
 * Webhook subscriptions to lifecycle events: list and add (the signing secret shown once), and per
 * subscription its recent deliveries (live) with every attempt, redeliver, test, rotate the
 * secret, enable, remove.
 */
import { call, pathOf } from "../api.js";
import { definitionList, formatDuration, formatTime, h, notice, shortId, table } from "../dom.js";
import { navigate, poll } from "../router.js";
import { actionButton, breadcrumbs, card, crumb, errorMessage, page } from "../ui.js";

/** Statuses drawn with the run statuses' colours; the word shown is the real one. */
const LOOK = {
  succeeded: "completed",
  failed: "failed",
  pending: "pending",
  sending: "running",
  interrupted: "cancelled",
  active: "active",
  disabled: "failed",
};

/** @param {string} status */
function badge(status) {
  const look = LOOK[/** @type {keyof typeof LOOK} */ (status)] ?? status;
  return h("span", { class: `badge status-${look}`, "data-status": status }, status);
}

/** The signing secret, shown once after creation or rotation. @param {any} hook */
function secretNotice(hook) {
  return notice("success", [
    h("p", {}, "Store this signing secret where the receiver verifies signatures; it is not shown again."),
    h("code", { class: "mono", "data-testid": "webhook-secret" }, hook.secret),
  ]);
}

/** @param {import("../navigation.js").Navigation} nav */
export async function webhooksPage(nav) {
  const catalogue = await call("getEventCatalogue");
  const types = catalogue.events.map((/** @type {any} */ e) => e.type).filter((t) => t !== "webhook.test");
  const feedback = h("div", { class: "feedback" });
  const tbody = h("tbody", { "data-testid": "webhooks-body" });

  const url = /** @type {HTMLInputElement} */ (
    h("input", {
      id: "webhook-url",
      name: "url",
      type: "url",
      required: true,
      placeholder: "https://…",
      "data-testid": "webhook-url",
    })
  );
  const description = /** @type {HTMLInputElement} */ (
    h("input", { id: "webhook-description", name: "description", maxlength: 255 })
  );
  const all = /** @type {HTMLInputElement} */ (
    h("input", { type: "checkbox", id: "webhook-all", checked: true, "data-testid": "webhook-all" })
  );
  const boxes = types.map(
    (/** @type {string} */ t) =>
      /** @type {HTMLInputElement} */ (
        h("input", { type: "checkbox", value: t, id: `type-${t}`, disabled: true })
      ),
  );
  all.addEventListener("change", () => {
    for (const b of boxes) b.disabled = all.checked;
  });
  const submit = h(
    "button",
    { type: "submit", class: "button", "data-testid": "webhook-add" },
    "Add webhook",
  );
  const form = h(
    "form",
    { class: "stack", "aria-label": "Add a webhook" },
    h("div", { class: "field" }, h("label", { for: "webhook-url" }, "URL"), url),
    h("div", { class: "field" }, h("label", { for: "webhook-description" }, "Description"), description),
    h(
      "fieldset",
      { class: "field" },
      h("legend", {}, "Events"),
      h("label", { class: "check" }, all, " Every event type"),
      h(
        "div",
        { class: "checks" },
        boxes.map((/** @type {HTMLInputElement} */ b) =>
          h("label", { class: "check mono small" }, b, ` ${b.value}`),
        ),
      ),
    ),
    submit,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const eventTypes = all.checked ? ["*"] : boxes.filter((b) => b.checked).map((b) => b.value);
    submit.setAttribute("disabled", "");
    try {
      const created = await call("createWebhook", {
        body: {
          url: url.value.trim(),
          eventTypes,
          ...(description.value.trim() ? { description: description.value.trim() } : {}),
        },
      });
      feedback.replaceChildren(secretNotice(created));
      url.value = "";
      description.value = "";
      await refresh();
    } catch (error) {
      feedback.replaceChildren(notice("error", errorMessage(error), { "data-testid": "action-error" }));
    } finally {
      submit.removeAttribute("disabled");
    }
  });

  async function refresh() {
    const result = await call("listWebhooks");
    tbody.replaceChildren(
      ...(result.items.length === 0
        ? [h("tr", {}, h("td", { colspan: 5, class: "empty" }, "No webhooks yet."))]
        : result.items.map((/** @type {any} */ w) =>
            h(
              "tr",
              { "data-testid": "webhook-row" },
              h("td", {}, h("a", { href: `#/webhooks/${w.id}` }, w.description || shortId(w.id))),
              h("td", { class: "mono small" }, w.url),
              h("td", {}, badge(w.status)),
              h("td", { class: "small" }, w.eventTypes.join(", ")),
              h("td", { class: "num" }, String(w.consecutiveFailures)),
            ),
          )),
    );
  }

  page(
    nav,
    "Webhooks",
    h("div", { class: "page-head" }, h("h1", {}, "Webhooks")),
    h(
      "p",
      { class: "lead" },
      "Lifecycle events POSTed to your URLs, signed the Standard Webhooks way (",
      h("a", { href: pathOf("getEventCatalogue") }, "event catalogue"),
      ").",
    ),
    feedback,
    h(
      "div",
      { class: "card card-flush" },
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          {},
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              ["Webhook", "URL", "Status", "Events", "Failures"].map((l) => h("th", { scope: "col" }, l)),
            ),
          ),
          tbody,
        ),
      ),
    ),
    card("Add a webhook", form),
  );
  poll(
    nav,
    async () => {
      await refresh();
      return true;
    },
    5000,
  );
}

/**
 * @param {import("../navigation.js").Navigation} nav
 * @param {string} id
 */
export async function webhookPage(nav, id) {
  const hook = await call("getWebhook", { params: { id } });
  const feedback = h("div", { class: "feedback" });
  const facts = h("div", {});
  const deliveries = h("tbody", { "data-testid": "deliveries-body" });
  const attempts = h("div", { "data-testid": "delivery-attempts" });

  /** @param {any} w */
  const showFacts = (w) =>
    facts.replaceChildren(
      definitionList([
        ["URL", h("span", { class: "mono" }, w.url)],
        ["Events", w.eventTypes.join(", ")],
        [
          "Status",
          [w.status, w.disabledReason ? ` — ${w.disabledReason}` : ""],
          { "data-testid": "webhook-status" },
        ],
        ["Failures in a row", String(w.consecutiveFailures)],
        ["Last success", formatTime(w.lastSuccessAt)],
        ["Old secret signs until", formatTime(w.previousSecretExpiresAt)],
      ]),
    );
  showFacts(hook);
  const reload = async () => showFacts(await call("getWebhook", { params: { id } }));

  /** @param {any} d */
  async function showAttempts(d) {
    try {
      const detail = await call("getWebhookDelivery", { params: { id, deliveryId: d.id } });
      attempts.replaceChildren(
        card(
          `Delivery ${shortId(d.id)}: ${d.eventType}`,
          h("p", { class: "muted small" }, "webhook-id ", h("code", {}, detail.eventId)),
          table(
            ["#", "At", "Outcome", "HTTP", "Latency", "Error"],
            detail.attemptLog.map((/** @type {any} */ a) =>
              h(
                "tr",
                { "data-testid": "attempt-row" },
                h("td", { class: "num" }, String(a.attempt)),
                h("td", { class: "nowrap" }, formatTime(a.attemptedAt)),
                h("td", {}, badge(a.outcome)),
                h("td", { class: "num" }, a.responseStatus === null ? "—" : String(a.responseStatus)),
                h("td", { class: "num" }, a.latencyMs === null ? "—" : formatDuration(a.latencyMs)),
                h("td", { class: "small" }, a.error ?? ""),
              ),
            ),
          ),
          h("pre", { class: "mono small" }, JSON.stringify(detail.event, null, 2)),
        ),
      );
    } catch (error) {
      attempts.replaceChildren(notice("error", errorMessage(error)));
    }
  }

  const actions = h(
    "div",
    { class: "toolbar" },
    actionButton({
      label: "Send test event",
      testid: "webhook-test",
      confirm: {
        title: "Send a test event?",
        message: "A webhook.test event goes to this URL only.",
        confirmLabel: "Send",
      },
      call: () => call("testWebhook", { params: { id } }),
      done: () => {},
      feedback,
      success: "Test event queued.",
    }),
    actionButton({
      label: "Rotate secret",
      testid: "webhook-rotate",
      confirm: {
        title: "Rotate the signing secret?",
        message: "A new secret signs from now on; the current one also signs for 24 hours.",
        confirmLabel: "Rotate",
      },
      call: () => call("rotateWebhookSecret", { params: { id }, body: {} }),
      done: () => void reload(),
      feedback,
      success: (result) => secretNotice(result),
    }),
    hook.status === "disabled"
      ? actionButton({
          label: "Enable",
          testid: "webhook-enable",
          confirm: {
            title: "Enable this webhook?",
            message: "Its pending deliveries resume.",
            confirmLabel: "Enable",
          },
          call: () => call("enableWebhook", { params: { id } }),
          done: () => void reload(),
          feedback,
          success: "Webhook enabled.",
        })
      : null,
    actionButton({
      label: "Remove",
      testid: "webhook-remove",
      danger: true,
      confirm: {
        title: "Remove this webhook?",
        message: "Its deliveries are removed with it; nothing more is sent to it.",
        confirmLabel: "Remove",
        danger: true,
      },
      call: () => call("deleteWebhook", { params: { id } }),
      done: () => navigate("#/webhooks"),
      feedback,
      success: "Webhook removed.",
    }),
  );

  page(
    nav,
    `Webhook ${shortId(id)}`,
    breadcrumbs(crumb("Webhooks", "#/webhooks"), crumb(hook.description || shortId(id))),
    h("div", { class: "page-head" }, h("h1", {}, hook.description || `Webhook ${shortId(id)}`), actions),
    feedback,
    facts,
    card(
      "Recent deliveries",
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          {},
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              ["Event", "Status", "Attempts", "Last answer", "Next attempt", "Created", ""].map((l) =>
                h("th", { scope: "col" }, l),
              ),
            ),
          ),
          deliveries,
        ),
      ),
    ),
    attempts,
  );

  poll(
    nav,
    async () => {
      const result = await call("listWebhookDeliveries", { params: { id }, query: { limit: 25 } });
      deliveries.replaceChildren(
        ...(result.items.length === 0
          ? [h("tr", {}, h("td", { colspan: 7, class: "empty" }, "No deliveries yet."))]
          : result.items.map((/** @type {any} */ d) => {
              const show = h(
                "button",
                { type: "button", class: "button button-ghost", "data-testid": `attempts-${d.id}` },
                "Attempts",
              );
              show.addEventListener("click", () => void showAttempts(d));
              return h(
                "tr",
                { "data-testid": "delivery-row" },
                h("td", { class: "mono small" }, d.eventType),
                h("td", {}, badge(d.status)),
                h("td", { class: "num" }, String(d.attempts)),
                h(
                  "td",
                  {},
                  d.lastResponseStatus === null ? (d.lastError ?? "—") : `HTTP ${d.lastResponseStatus}`,
                ),
                h("td", { class: "nowrap" }, formatTime(d.nextAttemptAt)),
                h("td", { class: "nowrap" }, formatTime(d.createdAt)),
                h(
                  "td",
                  { class: "nowrap" },
                  show,
                  " ",
                  actionButton({
                    label: "Redeliver",
                    testid: `redeliver-${d.id}`,
                    confirm: {
                      title: "Deliver this event again?",
                      message: `${d.eventType} is sent again now, with the same webhook-id.`,
                      confirmLabel: "Redeliver",
                    },
                    call: () => call("redeliverWebhookDelivery", { params: { id, deliveryId: d.id } }),
                    done: () => {},
                    feedback,
                    success: "Redelivery queued.",
                  }),
                ),
              );
            })),
      );
      return true;
    },
    3000,
  );
}
