/** Cells (tenant databases): each one's state and tenants, with close / open (admin only). */
import { call } from "../api.js";
import { formatTime, h, table } from "../dom.js";
import { navigate } from "../router.js";
import { can } from "../session.js";
import { actionButton, page } from "../ui.js";

/**
 * @param {any} c  a cell of `GET /api/cells`
 * @param {HTMLElement} feedback
 */
function cellAction(c, feedback) {
  const closing = c.acceptsTenants;
  if (!can(closing ? "closeCell" : "openCell")) return null;
  return actionButton({
    label: closing ? "Close" : "Open",
    testid: `${closing ? "close" : "open"}-cell-${c.name}`,
    confirm: closing
      ? {
          title: `Close cell ${c.name}?`,
          message:
            "No new tenant is placed on it (a template pinned to it is refused until it opens); its tenants stay and keep working.",
          confirmLabel: "Close",
        }
      : {
          title: `Open cell ${c.name}?`,
          message: "Placement may put new tenants on it again.",
          confirmLabel: "Open",
        },
    call: () => call(closing ? "closeCell" : "openCell", { params: { name: c.name } }),
    done: () => navigate("#/cells"),
    feedback,
    success: `Cell ${c.name} ${closing ? "closed" : "opened"}.`,
  });
}

/** @param {import("../navigation.js").Navigation} nav */
export async function cellsPage(nav) {
  const result = await call("listCells");
  const feedback = h("div", { class: "feedback" });
  page(
    nav,
    "Cells",
    h("div", { class: "page-head" }, h("h1", {}, "Cells")),
    h(
      "p",
      { class: "muted" },
      "A new tenant goes to its template's pinned cell, else to the open cell with the fewest tenants.",
    ),
    feedback,
    h(
      "div",
      { class: "card card-flush" },
      table(
        ["Cell", "State", "Configured", "Tenants", "Updated", ""],
        result.items.map((/** @type {any} */ c) =>
          h(
            "tr",
            { "data-testid": "cell-row", "data-cell": c.name },
            h("td", { class: "mono strong" }, c.name),
            h(
              "td",
              { "data-testid": "cell-state" },
              h(
                "span",
                { class: `badge status-${c.acceptsTenants ? "completed" : "cancelled"}` },
                c.acceptsTenants ? "open" : "closed",
              ),
            ),
            h("td", {}, c.configured ? "yes" : "no (not configured here)"),
            h("td", {}, String(c.tenants)),
            h("td", { class: "nowrap" }, formatTime(c.updatedAt)),
            h("td", {}, cellAction(c, feedback)),
          ),
        ),
        { "data-testid": "cells-table" },
      ),
    ),
  );
}
