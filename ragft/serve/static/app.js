// ragft web app: chat streaming, feedback buttons and the arena. No framework: a few fetch calls.
"use strict";

const CSRF = document.querySelector('meta[name="csrf-token"]').content;

async function postJSON(url, body) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": CSRF },
    body: JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.detail || `HTTP ${response.status}`);
  return data;
}

// Read a server-sent-events response body, calling onEvent(name, data) for each event.
async function readEvents(response, onEvent) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const event = (block.match(/^event: (.*)$/m) || [])[1] || "message";
      const data = (block.match(/^data: (.*)$/m) || [])[1];
      if (data !== undefined) onEvent(event, JSON.parse(data));
    }
  }
}

function renderSources(list, sources) {
  list.replaceChildren();
  for (const source of sources) {
    const item = document.createElement("li");
    const details = document.createElement("details");
    const summary = document.createElement("summary");
    summary.textContent = `[${source.n}] ${source.doc_id} (chars ${source.start}–${source.end}, ${source.retriever} ${source.score})`;
    const text = document.createElement("pre");
    text.textContent = source.text;
    details.append(summary, text);
    item.append(details);
    list.append(item);
  }
}

// ------------------------------------------------------------------------------------ chat
// One conversation at a time: its earlier turns go with every question, so follow-ups work.
const chatState = { id: newConversationId(), turns: [] };

function newConversationId() {
  return `c${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
}

function setUpChat(form) {
  const restart = document.getElementById("new-conversation");
  if (restart) {
    restart.addEventListener("click", () => {
      chatState.id = newConversationId();
      chatState.turns = [];
      document.getElementById("conversation").replaceChildren();
      document.getElementById("question").focus();
    });
  }
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const question = document.getElementById("question").value.trim();
    const variant = document.getElementById("variant").value;
    if (!question) return;
    const card = document.getElementById("answer-template").content.firstElementChild.cloneNode(true);
    card.querySelector(".q").textContent = question;
    card.querySelector(".meta").textContent = variant;
    document.getElementById("conversation").prepend(card);
    const text = card.querySelector(".text");
    const button = document.getElementById("ask");
    button.disabled = true;
    try {
      const response = await fetch("/api/chat", {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": CSRF },
        body: JSON.stringify({ question, variant, conversation_id: chatState.id, history: chatState.turns }),
      });
      if (!response.ok) {
        const data = await response.json().catch(() => ({}));
        throw new Error(data.detail || `HTTP ${response.status}`);
      }
      await readEvents(response, (name, data) => {
        if (name === "sources") renderSources(card.querySelector(".sources"), data);
        else if (name === "token") text.textContent += data.text;
        else if (name === "error") throw new Error(data.message);
        else if (name === "done") {
          text.textContent = data.answer;
          card.dataset.interaction = data.interaction_id;
          chatState.turns.push({ question, answer: data.answer });
          if (data.standalone_question && data.standalone_question !== question) {
            card.querySelector(".q").textContent = `${question} — answered as: ${data.standalone_question}`;
          }
          card.querySelector(".meta").textContent =
            `${data.variant} (${data.variant_hash}, model ${data.model_version}) · ${data.prompt_tokens} prompt + ${data.completion_tokens} answer tokens · ${data.seconds} s`;
          setUpFeedback(card, data);
        }
      });
    } catch (error) {
      text.textContent = `Error: ${error.message}`;
      text.classList.add("error");
    } finally {
      text.classList.remove("streaming");
      button.disabled = false;
    }
  });
}

function setUpFeedback(card, data) {
  const box = card.querySelector(".feedback");
  const status = card.querySelector(".status");
  const id = data.interaction_id;
  box.hidden = false;
  card.querySelector(".corrected").value = data.answer;
  const send = async (path, body, done) => {
    try {
      await postJSON(`/api/feedback/${id}/${path}`, body);
      status.textContent = done;
    } catch (error) {
      status.textContent = `Not saved: ${error.message}`;
    }
  };
  for (const button of card.querySelectorAll(".vote")) {
    button.addEventListener("click", () => {
      card.querySelectorAll(".vote").forEach((b) => b.classList.toggle("chosen", b === button));
      send("vote", { vote: button.dataset.vote }, `Vote saved (${button.dataset.vote}).`);
    });
  }
  card.querySelector(".rate").addEventListener("click", () => {
    const rating = card.querySelector(".rating").value;
    if (!rating) { status.textContent = "Pick a rating from 1 to 5 first."; return; }
    send("rating", { rating: Number(rating) }, `Rating saved (${rating}).`);
  });
  card.querySelector(".save-edit").addEventListener("click", () => {
    send("edit", { corrected_answer: card.querySelector(".corrected").value }, "Correction saved.");
  });
}

// ------------------------------------------------------------------------------------ arena
function setUpArena(form) {
  const status = document.getElementById("arena-status");
  const round = document.getElementById("arena-round");
  let roundId = null;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const question = document.getElementById("arena-question").value.trim();
    if (!question) return;
    status.textContent = "Both variants are answering…";
    round.hidden = true;
    try {
      const data = await postJSON("/api/arena", { question });
      roundId = data.round_id;
      ["a", "b"].forEach((side, i) => {
        const card = document.getElementById(`side-${side}`);
        card.querySelector(".text").textContent = data.answers[i].text;
        card.querySelector(".reveal").textContent = "";
        renderSources(card.querySelector(".sources"), data.answers[i].sources);
      });
      round.querySelectorAll(".choice").forEach((b) => { b.disabled = false; });
      round.hidden = false;
      status.textContent = "Which answer is better?";
    } catch (error) {
      status.textContent = `Error: ${error.message}`;
    }
  });
  for (const button of round.querySelectorAll(".choice")) {
    button.addEventListener("click", async () => {
      round.querySelectorAll(".choice").forEach((b) => { b.disabled = true; });
      try {
        const data = await postJSON(`/api/arena/${roundId}/choice`, { choice: button.dataset.choice });
        document.querySelector("#side-a .reveal").textContent = `— ${data.variant_a}`;
        document.querySelector("#side-b .reveal").textContent = `— ${data.variant_b}`;
        status.textContent = "Choice saved. Reload the page to see the leaderboard updated.";
      } catch (error) {
        status.textContent = `Not saved: ${error.message}`;
      }
    });
  }
}

const chatForm = document.getElementById("chat-form");
if (chatForm) setUpChat(chatForm);
const arenaForm = document.getElementById("arena-form");
if (arenaForm) setUpArena(arenaForm);
