// The demo storefront: plain JavaScript over the public API (/api/v1) and the
// gateway's hosted pay page. No framework, no build step. State that must survive
// the trip to the pay page (cart token, tokens, billing address) is in localStorage.
"use strict";

const API = "/api/v1";
const TERMINAL = ["enrolled", "failed", "expired", "cancelled", "refunded"];
const STEPS = [
  ["price", "Price frozen"],
  ["reserve", "Seats reserved"],
  ["payment_session", "Payment session opened"],
  ["confirm", "Payment confirmed"],
  ["enroll", "Enrolled in cohort"],
  ["complete", "Done"],
];
const STATES = [
  ["AN", "Andaman and Nicobar Islands"], ["AP", "Andhra Pradesh"], ["AR", "Arunachal Pradesh"],
  ["AS", "Assam"], ["BR", "Bihar"], ["CH", "Chandigarh"], ["CG", "Chhattisgarh"],
  ["DH", "Dadra and Nagar Haveli and Daman and Diu"], ["DL", "Delhi"], ["GA", "Goa"],
  ["GJ", "Gujarat"], ["HP", "Himachal Pradesh"], ["HR", "Haryana"], ["JH", "Jharkhand"],
  ["JK", "Jammu and Kashmir"], ["KA", "Karnataka"], ["KL", "Kerala"], ["LA", "Ladakh"],
  ["LD", "Lakshadweep"], ["MH", "Maharashtra"], ["ML", "Meghalaya"], ["MN", "Manipur"],
  ["MP", "Madhya Pradesh"], ["MZ", "Mizoram"], ["NL", "Nagaland"], ["OD", "Odisha"],
  ["PB", "Punjab"], ["PY", "Puducherry"], ["RJ", "Rajasthan"], ["SK", "Sikkim"],
  ["TN", "Tamil Nadu"], ["TR", "Tripura"], ["TS", "Telangana"], ["UK", "Uttarakhand"],
  ["UP", "Uttar Pradesh"], ["WB", "West Bengal"],
];
const COUNTRIES = [
  ["IN", "India"], ["US", "United States"], ["GB", "United Kingdom"], ["AE", "United Arab Emirates"],
  ["SG", "Singapore"], ["DE", "Germany"], ["FR", "France"], ["AU", "Australia"], ["CA", "Canada"],
];
const CURRENCIES = ["INR", "USD", "EUR", "GBP", "AED", "SGD"];
const TAX_NAMES = { cgst: "CGST", sgst: "SGST", igst: "IGST", zero_rated: "Export (zero-rated)" };

const $ = (id) => document.getElementById(id);
const store = {
  get: (k) => { try { return JSON.parse(localStorage.getItem("shop." + k)); } catch { return null; } },
  set: (k, v) => v === null || v === undefined ? localStorage.removeItem("shop." + k)
    : localStorage.setItem("shop." + k, JSON.stringify(v)),
};

let catalog = [];
let cart = null;

// ---------- small DOM helpers ----------

/** Creates an element; text is always set as text, never parsed as HTML. */
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

function money(minor, currency) {
  if (minor === null || minor === undefined) return "–";
  try {
    return new Intl.NumberFormat("en-IN", { style: "currency", currency: currency || "INR" }).format(minor / 100);
  } catch {
    return (minor / 100).toFixed(2) + " " + currency;
  }
}

function period(p) {
  return p.value + " " + p.unit + (p.value === 1 ? "" : "s");
}

function options(select, pairs, selected) {
  select.replaceChildren(...pairs.map(([v, label]) => el("option", { value: v, selected: v === selected }, label)));
}

// ---------- errors ----------

/** An API refusal, in words, with what support needs to find it. */
class ApiError extends Error {
  constructor(status, error) {
    super(error.message || "the request failed");
    this.status = status;
    this.code = error.code;
    this.correlationId = error.correlation_id;
    this.details = error.validation_messages || [];
    this.retryable = error.retryable;
  }
  describe() {
    let s = this.message;
    if (this.details.length) s += ": " + this.details.join("; ");
    return s + ` (error ${this.code})`;
  }
}

function showError(err, context) {
  const box = $("error");
  if (!err) { box.hidden = true; box.replaceChildren(); return; }
  const text = err instanceof ApiError ? err.describe()
    : "Could not reach the shop's server. Check your connection and try again.";
  const parts = [el("strong", { text: (context ? context + ": " : "") + text })];
  if (err instanceof ApiError && err.correlationId) {
    parts.push(el("span", { class: "cid" }, " Support reference: ", el("code", { text: err.correlationId })));
  }
  if (!(err instanceof ApiError)) console.error(err);
  parts.push(el("button", { type: "button", class: "link", onclick: () => showError(null) }, "Dismiss"));
  box.replaceChildren(...parts);
  box.hidden = false;
}

// ---------- the API ----------

function randomKey() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Sends a request with the bearer token, refreshing an expired one once; the response
 * when it succeeded, else an ApiError with the envelope's error. */
async function send(method, path, body, headers, retried) {
  const h = Object.assign({ Accept: "application/json" }, headers || {});
  const auth = store.get("auth");
  if (auth) h.Authorization = "Bearer " + auth.access_token;
  if (body !== undefined) h["Content-Type"] = "application/json";
  const res = await fetch(API + path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
  if (res.ok) return res;
  let env = null;
  try { env = await res.json(); } catch { /* not JSON */ }
  const error = (env && env.error) || { code: res.status, message: `HTTP ${res.status}` };
  if (error.code === 5002 && auth && !retried && await refresh(auth)) {
    return send(method, path, body, headers, true);
  }
  if ([5002, 5003, 5006, 5007].includes(error.code) && auth) {
    // the session is over (e.g. `dev` restarted with a new key): carry on as a guest
    signedOut();
    if (!retried) return send(method, path, body, headers, true);
  }
  throw new ApiError(res.status, error);
}

/** Calls the API; resolves to the envelope's data. */
async function api(method, path, body, headers) {
  const res = await send(method, path, body, headers);
  let env = null;
  try { env = await res.json(); } catch { /* not JSON */ }
  if (env && env.success) return env.data;
  throw new ApiError(res.status, (env && env.error) || { code: res.status, message: `HTTP ${res.status}` });
}

/** A file the API serves (a PDF), as a Blob. */
async function apiFile(path, accept) {
  return (await send("GET", path, undefined, { Accept: accept })).blob();
}

async function refresh(auth) {
  try {
    const res = await fetch(API + "/auth/refresh", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ refresh_token: auth.refresh_token }),
    });
    const env = await res.json();
    if (!env.success) return false;
    saveAuth(env.data);
    return true;
  } catch {
    return false;
  }
}

function saveAuth(data) {
  store.set("auth", { access_token: data.access_token, refresh_token: data.refresh_token, user: data.user });
  renderWho();
}

function signedOut() {
  store.set("auth", null);
  renderWho();
}

function renderWho() {
  const auth = store.get("auth");
  $("who").textContent = auth ? "Signed in as " + auth.user.email : "Guest";
  $("logout").hidden = !auth;
  const forms = $("account-forms");
  if (forms) forms.hidden = !!auth;
  const status = $("account-status");
  if (status) {
    status.textContent = auth ? `Signed in as ${auth.user.name} (${auth.user.email}).`
      : "Log in or register to pay. Your cart is kept.";
  }
}

// ---------- catalog ----------

async function loadCatalog() {
  catalog = await api("GET", "/internships");
  return catalog;
}

function renderCatalog() {
  $("catalog-loading").hidden = true;
  $("catalog").replaceChildren(...catalog.map((p) => {
    const selectId = "plan-" + p.slug;
    const select = el("select", { id: selectId });
    options(select, p.plans.map((pl) => [pl.id, `${period(pl.period)} · ${money(pl.price_minor, pl.currency)}${pl.tax_inclusive ? " incl. GST" : " + GST"}`]));
    const soldOut = p.seats_left <= 0;
    return el("li", { class: "card", "data-slug": p.slug },
      el("h3", { text: p.title }),
      el("p", { text: p.description }),
      el("p", { class: "seats" + (p.seats_left < 10 ? " low" : "") },
        soldOut ? "Sold out" : `${p.seats_left} seats left`,
        p.cohorts.length ? ` · next cohort starts ${p.cohorts[0].starts_on}` : ""),
      el("label", { for: selectId }, "Plan"),
      select,
      el("button", {
        type: "button", class: "add", "data-slug": p.slug, disabled: soldOut,
        "aria-label": "Add " + p.title + " to cart",
        onclick: (e) => addToCart(p, select.value, e.currentTarget),
      }, "Add to cart"));
  }));
}

// ---------- cart ----------

async function loadCart() {
  const token = store.get("cart");
  if (!token) return null;
  try {
    cart = await api("GET", "/cart/" + encodeURIComponent(token));
    if (cart.status === "converted" || cart.status === "merged") forgetCart();
  } catch (err) {
    // gone, expired, or someone else's: start afresh on the next add
    if (err instanceof ApiError && [1001, 1002, 1003].includes(err.code)) forgetCart();
    else throw err;
  }
  return cart;
}

function forgetCart() {
  cart = null;
  store.set("cart", null);
}

async function ensureCart() {
  if (cart) return cart;
  cart = await api("POST", "/cart", { currency: "INR" });
  store.set("cart", cart.token);
  return cart;
}

async function busy(button, work) {
  if (button) button.disabled = true;
  try { showError(null); return await work(); }
  finally { if (button) button.disabled = false; }
}

async function addToCart(program, planId, button) {
  await busy(button, async () => {
    try {
      await ensureCart();
      cart = await api("POST", `/cart/${cart.token}/items`, { internship_id: program.id, plan_id: planId });
      renderCart();
      $("estimate").replaceChildren();
    } catch (err) { showError(err, "Could not add " + program.title); }
  });
}

async function changePlan(planId) {
  try {
    showError(null);
    cart = await api("PUT", `/cart/${cart.token}/plan/${planId}`);
    renderCart();
    $("estimate").replaceChildren();
  } catch (err) { showError(err, "Could not change the plan"); }
}

async function removeItem(item, button) {
  await busy(button, async () => {
    try {
      cart = await api("DELETE", `/cart/${cart.token}/item/${item.id}`);
      renderCart();
      $("estimate").replaceChildren();
      $("cart-h").focus();
    } catch (err) { showError(err, "Could not remove the item"); }
  });
}

function renderCart() {
  const box = $("cart");
  $("coupon-remove").hidden = !(cart && cart.coupon_code);
  if (!cart || !cart.items.length) {
    box.replaceChildren(el("p", { text: "Your cart is empty." }));
    return;
  }
  const pricing = cart.pricing;
  const rows = cart.items.map((item) => {
    const program = catalog.find((p) => p.id === item.internship_id);
    const line = pricing.lines.find((l) => l.line_id === item.id);
    const selectId = "cart-plan-" + item.id;
    const select = el("select", { id: selectId, onchange: (e) => changePlan(e.target.value) });
    options(select, (program ? program.plans : []).map((pl) => [pl.id, period(pl.period)]), item.plan_id);
    return el("li", { class: "cart-item", "data-slug": item.internship_slug },
      el("div", { class: "grow" },
        el("strong", { text: program ? program.title : item.title }),
        el("div", { class: "row" }, el("label", { for: selectId }, "Plan "), select,
          item.quantity > 1 ? el("span", { text: " × " + item.quantity }) : null)),
      el("span", { class: "amount", text: money(line ? line.amount : item.unit_price_inr * item.quantity, pricing.currency) }),
      el("button", { type: "button", class: "link remove", "aria-label": "Remove " + (program ? program.title : item.title),
        onclick: (e) => removeItem(item, e.currentTarget) }, "Remove"));
  });
  const t = pricing.totals;
  const summary = el("dl", { class: "totals" },
    el("dt", { text: "Subtotal" }), el("dd", { text: money(t.subtotal, pricing.currency) }));
  if (t.discount) {
    const label = pricing.coupon ? `Coupon ${pricing.coupon.code}` : "Discount";
    summary.append(el("dt", { text: label }), el("dd", { id: "cart-discount", text: "− " + money(t.discount, pricing.currency) }));
  }
  summary.append(el("dt", { text: "Before tax" }), el("dd", { id: "cart-net", text: money(t.net, pricing.currency) }));
  const notices = (cart.notices || []).map((n) => el("p", { class: "note", text: typeof n === "string" ? n : (n.message || JSON.stringify(n)) }));
  box.replaceChildren(el("ul", { class: "cart-items" }, ...rows), summary, ...notices,
    el("p", { class: "note", text: "GST is added by the estimate below, from your billing address." }));
}

async function applyCoupon(event) {
  event.preventDefault();
  const code = $("coupon-code").value.trim();
  const status = $("coupon-status");
  status.className = "note";
  if (!code) { status.textContent = "Enter a coupon code."; return; }
  if (!cart) { status.textContent = "Add a program to your cart first."; return; }
  await busy($("coupon-apply"), async () => {
    try {
      cart = await api("POST", `/cart/${cart.token}/coupon`, { code });
      const c = cart.pricing.coupon;
      status.textContent = c ? `Coupon ${c.code} applied: you save ${money(c.amount, cart.pricing.currency)}.`
        : `Coupon ${code} saved on the cart.`;
      status.className = "note ok";
      renderCart();
      $("estimate").replaceChildren();
    } catch (err) {
      if (!(err instanceof ApiError)) { showError(err); return; }
      // a refusal is an answer, not a failure: say why, next to the field
      status.className = "note bad";
      status.replaceChildren(`Coupon not applied: ${err.message} (error ${err.code}). `,
        el("span", { class: "cid" }, "Reference ", el("code", { text: err.correlationId || "" })));
    }
  });
}

async function removeCoupon() {
  await busy($("coupon-remove"), async () => {
    try {
      cart = await api("DELETE", `/cart/${cart.token}/coupon`);
      $("coupon-status").textContent = "Coupon removed.";
      renderCart();
      $("estimate").replaceChildren();
    } catch (err) { showError(err, "Could not remove the coupon"); }
  });
}

// ---------- billing and estimate ----------

function billingAddress() {
  const country = $("country").value;
  const address = { country };
  if (country === "IN") address.state = $("state").value;
  const postal = $("postal").value.trim();
  if (postal) address.postal_code = postal;
  // the API takes capitals only; its state, not the address's, then decides the tax
  const gstin = $("gstin").value.trim().toUpperCase();
  if (gstin) address.gstin = gstin;
  return address;
}

function saveBilling() {
  store.set("billing", Object.assign(billingAddress(), { currency: $("currency").value }));
  $("state-field").hidden = $("country").value !== "IN";
}

async function estimate(event) {
  if (event) event.preventDefault();
  saveBilling();
  if (!cart || !cart.items.length) {
    $("estimate").replaceChildren(el("p", { class: "note", text: "Add a program to your cart first." }));
    return;
  }
  await busy($("estimate-btn"), async () => {
    try {
      const data = await api("POST", "/cart/estimate", {
        cart_token: cart.token, billing_address: billingAddress(), currency: $("currency").value,
      });
      renderEstimate(data.pricing);
    } catch (err) {
      $("estimate").replaceChildren();
      showError(err, "Could not estimate");
    }
  });
}

function placeOfSupply(pos) {
  if (!pos) return "";
  if (pos.kind === "intra_state") return `Within ${pos.state}: CGST + SGST`;
  if (pos.kind === "inter_state") return `From ${pos.supplier_state} to ${pos.state}: IGST`;
  if (pos.kind === "export") return `Export to ${pos.country}: zero-rated`;
  return pos.kind;
}

function renderEstimate(p) {
  const cur = p.currency;
  const t = p.totals;
  const table = el("table", { class: "breakdown", id: "estimate-table" },
    el("caption", { text: "Estimate in " + cur }),
    el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "Item" }), el("th", { scope: "col", class: "num", text: "Amount" }))));
  const body = el("tbody");
  const row = (label, value, attrs) => body.append(el("tr", attrs || {}, el("th", { scope: "row", text: label }), el("td", { class: "num", text: value })));
  for (const line of p.lines) row(line.title + (line.quantity > 1 ? " × " + line.quantity : ""), money(line.amount, cur));
  row("Subtotal", money(t.subtotal, cur));
  if (t.sale_discount) row("Sale discount", "− " + money(t.sale_discount, cur));
  if (t.coupon_discount) row(`Coupon ${p.coupon ? p.coupon.code : ""}`, "− " + money(t.coupon_discount, cur));
  if (p.tax) {
    row("Taxable value", money(p.tax.taxable_value, cur));
    for (const c of p.tax.components) {
      const pct = (Number(c.rate) * 100).toFixed(0) + "%";
      row(`${TAX_NAMES[c.kind] || c.kind.toUpperCase()} ${pct}`, money(c.amount, cur), { "data-tax": c.kind });
    }
  }
  row("Total", money(t.total, cur), { class: "total" });
  table.append(body);
  const notes = [el("p", { class: "note", id: "place-of-supply", text: p.tax ? placeOfSupply(p.tax.place_of_supply) + (p.tax.gstin ? ` (GSTIN ${p.tax.gstin})` : "") : "" })];
  if (p.fx) notes.push(el("p", { class: "note", text: `1 ${p.fx.base} = ${Number(p.fx.rate)} ${p.fx.quote} (rate of ${p.fx.as_of.slice(0, 10)})` }));
  $("estimate").replaceChildren(table, ...notes);
}

// ---------- account ----------

async function register(event) {
  event.preventDefault();
  const email = $("reg-email").value.trim();
  const password = $("reg-password").value;
  await busy($("register-btn"), async () => {
    try {
      const data = await api("POST", "/auth/register", { email, name: $("reg-name").value.trim(), password });
      saveAuth(data);
      // bind the guest cart to the new account (the cart-level login keeps it)
      if (cart) await cartLogin(email, password);
      $("reg-password").value = "";
      $("pay-h").focus();
    } catch (err) { showError(err, "Could not register"); }
  });
}

async function cartLogin(email, password) {
  const data = await api("POST", `/cart/${cart.token}/auth/login`, { email, password });
  saveAuth(data.auth);
  cart = data.cart;
  store.set("cart", cart.token);
  renderCart();
}

async function login(event) {
  event.preventDefault();
  const email = $("login-email").value.trim();
  const password = $("login-password").value;
  await busy($("login-btn"), async () => {
    try {
      if (cart) await cartLogin(email, password);
      else saveAuth(await api("POST", "/auth/login", { email, password }));
      $("login-password").value = "";
      $("pay-h").focus();
    } catch (err) { showError(err, "Could not log in"); }
  });
}

async function logout() {
  const auth = store.get("auth");
  signedOut();
  forgetCart(); // a bound cart opens only with its owner's token
  renderCart();
  if (auth) fetch(API + "/auth/logout", { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ refresh_token: auth.refresh_token }) }).catch(() => {});
}

// ---------- pay ----------

async function pay() {
  const status = $("pay-status");
  if (!cart || !cart.items.length) { status.textContent = "Your cart is empty."; return; }
  if (!store.get("auth")) { status.textContent = "Log in or register first."; $("account-h").focus(); return; }
  saveBilling();
  await busy($("pay"), async () => {
    try {
      status.textContent = "Creating your order…";
      let order = await api("POST", "/order", {
        cart_token: cart.token,
        billing_address: billingAddress(),
        // the order token is not known yet: the server fills it in
        return_url: location.origin + "/order/{order_token}",
        cancel_url: location.origin + "/order/{order_token}",
      }, { "Idempotency-Key": randomKey() });
      // the cart is now converted (the next visit starts a new one) or, if the order
      // fails, reopened by the server: keep its token either way
      store.set("order", order.order_token);
      // long polls: each answers when the status moves on, or after 5 s
      for (let i = 0; i < 8 && !order.payment && !TERMINAL.includes(order.status); i++) {
        status.textContent = "Opening the payment page…";
        order = await api("GET", orderWaitPath(order));
      }
      if (order.payment && order.payment.checkout_url) {
        status.textContent = "Redirecting to the payment page…";
        openPaymentPage(order.payment);
      } else {
        location.assign("/order/" + order.order_token);
      }
    } catch (err) {
      status.textContent = "";
      showError(err, "Could not start the payment");
    }
  });
}

/** Goes to the gateway's hosted page the way its checkout does (a full-page redirect). */
function openPaymentPage(payment) {
  location.assign(payment.checkout_url);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** The order's long-poll path: answered when its status is no longer the one shown. */
const orderWaitPath = (order) =>
  `/order/${order.order_token}?wait_ms=5000&status=${encodeURIComponent(order.status)}`;

// ---------- order page ----------

async function orderPage(token) {
  $("order-view").hidden = false;
  $("order-token").textContent = token;
  $("order-h").focus();
  const params = new URLSearchParams(location.search);
  history.replaceState(null, "", "/order/" + token); // a reload must not verify again
  try { await loadCatalog(); } catch { /* names only */ }
  let order;
  try {
    order = await api("GET", "/order/" + token);
  } catch (err) {
    showError(err, "Could not load the order");
    return;
  }
  const gatewayError = params.get("error[description]");
  if (gatewayError) {
    note(`Payment failed: ${gatewayError}${params.get("error[code]") ? " (" + params.get("error[code]") + ")" : ""}.`, "bad");
  } else if (params.get("razorpay_payment_id")) {
    note("Payment received; confirming it with the gateway…", "ok");
    const payment = order.payments.find((p) => p.gateway_order_id === params.get("razorpay_order_id")) || order.payment;
    try {
      order = await api("POST", `/payments/${payment.payment_token}/verify`, {
        razorpay_payment_id: params.get("razorpay_payment_id"),
        razorpay_order_id: params.get("razorpay_order_id"),
        razorpay_signature: params.get("razorpay_signature"),
      });
    } catch (err) {
      // the webhook confirms the payment anyway; say what happened and keep polling
      showError(err, "Could not verify the payment on return");
    }
  } else if (order.payment && order.payment.gateway === "stripe" && order.status === "awaiting_payment") {
    try { order = await api("POST", `/payments/${order.payment.payment_token}/verify`, {}); } catch { /* webhook */ }
  }
  renderOrder(order);
  let delay = 700;
  while (!TERMINAL.includes(order.status)) {
    try {
      order = await api("GET", orderWaitPath(order));
      renderOrder(order);
      delay = 700;
    } catch (err) {
      showError(err, "Lost contact with the order; retrying");
      await sleep(delay);
      delay = Math.min(delay * 2, 8000);
    }
  }
  // The status is final before the saga is: `complete` runs after `enroll` set
  // `enrolled`, and changes no status to long-poll on. Show its line once it ran.
  for (let i = 0; i < 20 && order.step_state === "running"; i++) {
    await sleep(250);
    try { order = await api("GET", "/order/" + token); renderOrder(order); } catch { break; }
  }
  if (order.status === "enrolled") await renderEnrollments();
  await renderInvoice(order);
}

function note(text, kind) {
  $("payment-note").replaceChildren(el("p", { class: "note " + (kind || ""), id: "payment-note-text", text }));
}

function renderOrder(o) {
  const status = $("order-status");
  status.textContent = o.status.replace("_", " ");
  status.dataset.status = o.status;
  status.className = "badge " + o.status;
  const retry = $("retry");
  const payable = o.status === "awaiting_payment" && o.payment && o.payment.status === "created" && o.payment.checkout_url;
  if (o.failure) {
    note(`${o.status === "cancelled" ? "Cancelled" : "Not completed"}: ${o.failure.reason} (error ${o.failure.code}).`, "bad");
  } else if (o.status === "awaiting_payment" && o.last_payment_error) {
    note(`Your last payment attempt failed: ${o.last_payment_error}. You can try again.`, "bad");
  } else if (o.status === "enrolled") {
    note("Payment captured and you are enrolled. Welcome aboard!", "ok");
  }
  retry.hidden = !payable;
  retry.onclick = payable ? () => openPaymentPage(o.payment) : null;

  const latest = {};
  for (const t of o.timeline) latest[t.step] = t;
  $("timeline").replaceChildren(...STEPS.map(([step, label], i) => {
    const t = latest[step];
    // a step that waited (the session, for the payment) is done once a later one ran
    const later = STEPS.slice(i + 1).some(([s]) => latest[s]);
    let state = t ? t.outcome : (o.step === step ? o.step_state : "pending");
    if (state === "waiting" && later) state = "succeeded";
    let words = state || "pending";
    if (state === "waiting") words = step === "payment_session" ? "open, waiting for your payment" : "waiting for the payment";
    const detail = ` ${words}${t && t.attempt > 1 ? ", attempt " + t.attempt : ""}${t && t.error ? ": " + t.error : ""}`;
    return el("li", { class: "step " + (state || "pending"), "data-step": step, "data-state": state || "pending" },
      el("span", { class: "mark", "aria-hidden": "true" }), el("strong", { text: label }), el("span", { text: " —" + detail }));
  }));

  const cur = o.currency || "INR";
  const amounts = el("dl", { class: "totals" });
  const add = (k, v) => amounts.append(el("dt", { text: k }), el("dd", { text: v }));
  if (o.subtotal !== null) add("Subtotal", money(o.subtotal, cur));
  if (o.discount) add("Discount", "− " + money(o.discount, cur));
  const tax = o.price && o.price.tax;
  if (tax) for (const c of tax.components) add(`${TAX_NAMES[c.kind] || c.kind} ${(Number(c.rate) * 100).toFixed(0)}%`, money(c.amount, cur));
  if (o.total !== null) add("Total", money(o.total, cur));
  $("order-amounts").replaceChildren(amounts);
}

async function renderEnrollments() {
  try {
    const data = await api("GET", "/enrollments");
    $("enrollments-section").hidden = false;
    $("enrollments").replaceChildren(...data.enrollments.map((e) => {
      const program = catalog.find((p) => p.id === e.program_id);
      const cohort = program && program.cohorts.find((c) => c.id === e.cohort_id);
      return el("li", { class: "enrollment", text: `${program ? program.title : e.program_id}${cohort ? ", cohort starting " + cohort.starts_on : ""}` });
    }));
  } catch (err) { showError(err, "Could not list your enrollments"); }
}

// ---------- invoice ----------

/** The tax invoice of a paid order: issued shortly after enrollment (404 7010 until
 * then), so it is polled while it is being prepared. A free order has none, and an
 * order refunded before enrollment never gets one. */
async function renderInvoice(order) {
  const section = $("invoice-section");
  const status = $("invoice-status");
  const mayHaveOne = order.total > 0 && (order.status === "enrolled" || order.status === "refunded");
  if (!mayHaveOne) { section.hidden = true; return; }
  let delay = 500;
  for (let i = 0; i < 40; i++) {
    try {
      const data = await api("GET", `/order/${order.order_token}/invoice`);
      showInvoice(order.order_token, data.invoice, data.credit_notes);
      return;
    } catch (err) {
      if (!(err instanceof ApiError) || err.code !== 7010) {
        section.hidden = false;
        status.textContent = "The invoice could not be loaded; reload the page to try again.";
        return;
      }
      // a refunded order may never have been invoiced: say nothing
      if (order.status === "refunded") { section.hidden = true; return; }
      section.hidden = false;
      status.textContent = "Invoice being prepared…";
      await sleep(delay);
      delay = Math.min(delay * 2, 5000);
    }
  }
  status.textContent = "The invoice is taking longer than usual; reload the page later.";
}

function showInvoice(token, invoice, creditNotes) {
  const button = $("invoice-pdf");
  button.dataset.number = invoice.number;
  button.onclick = () => downloadInvoice(token, invoice.number);
  $("invoice-number").textContent = invoice.number;
  $("invoice-status").textContent = creditNotes.length
    ? `Credit notes: ${creditNotes.map((n) => n.number).join(", ")}.` : "";
  $("invoice-actions").hidden = false;
  $("invoice-section").hidden = false;
}

/** Fetches the PDF with the page's bearer token (a plain link could not send it) and
 * hands it to the browser as a download named after the invoice number. */
async function downloadInvoice(token, number) {
  await busy($("invoice-pdf"), async () => {
    try {
      const pdf = await apiFile(`/order/${token}/invoice`, "application/pdf");
      const url = URL.createObjectURL(pdf);
      const link = el("a", { href: url, download: invoiceFileName(number), hidden: true });
      document.body.append(link);
      link.click();
      link.remove();
      // the download has started from the URL; keep it a while for slow disks
      setTimeout(() => URL.revokeObjectURL(url), 60000);
    } catch (err) { showError(err, "Could not download the invoice"); }
  });
}

/** `KA/I2627/000042` -> `invoice-KA-I2627-000042.pdf` (no slashes in a file name). */
function invoiceFileName(number) {
  return "invoice-" + number.replace(/[^A-Za-z0-9-]+/g, "-") + ".pdf";
}

// ---------- start ----------

async function shopPage() {
  $("shop").hidden = false;
  const billing = store.get("billing") || { country: "IN", state: "KA", currency: "INR" };
  options($("country"), COUNTRIES, billing.country);
  options($("state"), STATES.map(([c, n]) => [c, n]), billing.state || "KA");
  options($("currency"), CURRENCIES.map((c) => [c, c]), billing.currency || "INR");
  $("postal").value = billing.postal_code || "";
  $("gstin").value = billing.gstin || "";
  $("state-field").hidden = billing.country !== "IN";
  for (const id of ["country", "state", "postal", "gstin"]) $(id).addEventListener("change", saveBilling);
  $("currency").addEventListener("change", () => { saveBilling(); if ($("estimate").childElementCount) estimate(); });
  $("coupon-form").addEventListener("submit", applyCoupon);
  $("coupon-remove").addEventListener("click", removeCoupon);
  $("billing-form").addEventListener("submit", estimate);
  $("register-form").addEventListener("submit", register);
  $("login-form").addEventListener("submit", login);
  $("pay").addEventListener("click", pay);
  for (const id of ["cart-h", "pay-h", "account-h"]) $(id).tabIndex = -1;
  try {
    await loadCatalog();
    renderCatalog();
  } catch (err) {
    $("catalog-loading").textContent = "The programs could not be loaded.";
    showError(err, "Could not load the programs");
  }
  try { await loadCart(); } catch (err) { showError(err, "Could not load your cart"); }
  renderCart();
  const last = store.get("order");
  if (last) $("pay-status").replaceChildren("Your last order: ", el("a", { href: "/order/" + last }, "see its status"), ".");
}

document.addEventListener("DOMContentLoaded", () => {
  renderWho();
  $("logout").addEventListener("click", logout);
  const match = location.pathname.match(/^\/order\/([A-Za-z0-9_-]+)$/);
  const page = match ? orderPage(match[1]) : shopPage();
  // tests wait for this before using the page
  page.catch((e) => showError(e));
  if (!match) page.finally(() => { document.body.dataset.ready = "1"; });
});
