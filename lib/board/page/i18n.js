// SPDX-License-Identifier: Apache-2.0
// crmpulse wallboard: the page's words in English, Russian, Ukrainian and
// Italian, and the locale that formats its numbers and money. board.js
// reads window.CP_I18N. A missing key falls back to English; "{n}" in a
// text is replaced by the argument of that name.
(function () {
  "use strict";
  var en = {
    "title.funnel": "Funnel today", "title.rt": "First response",
    "title.service": "Service now", "title.managers": "Managers today",
    "title.sources": "Lead sources today", "title.risk": "Customers at risk",
    "title.churn": "Churn alerts",
    "kpi.events": "Events", "kpi.leads": "Leads", "kpi.orders": "Orders",
    "kpi.revenue": "Revenue", "kpi.avg_check": "Average check",
    "kpi.repeat": "Repeat orders", "kpi.deals_won": "Deals won",
    "kpi.missed": "Missed calls", "last_wk": "last wk {v}",
    "day": "today {d} UTC · last wk = {w}, whole day",
    "funnel.note": "lost {l} · won last wk {w}", "funnel.lead": "lead",
    "funnel.won": "won", "rt.avg": "avg {v}", "rt.note": "{n} first replies",
    "svc.waiting": "Waiting for reply", "svc.oldest": "oldest {v}",
    "svc.none": "none waiting", "svc.missed": "Missed calls",
    "svc.inbound": "of {n} inbound", "svc.tickets": "Tickets opened / resolved",
    "svc.resolution": "avg resolution {v}", "svc.answers": "{n} answers",
    "svc.csat": "avg {v} / 5", "svc.ces": "{n} answers, 1–7",
    "col.manager": "Manager", "col.won": "Won", "col.amount": "Amount",
    "col.replies": "Replies", "col.avg_reply": "Avg reply",
    "col.missed": "Missed", "col.source": "Source", "col.leads": "Leads",
    "col.lost": "Lost", "col.conv": "Conv.", "no_data": "no data yet",
    "risk.none": "no customer at risk", "churn.none": "no churn alerts yet",
    "churn.alert": "{l} churn risk: ", "sla": "SLA breaches, last hour: {n}",
    "status.connecting": "connecting", "status.live": "live",
    "status.redis_down": "redis down", "status.reconnecting": "reconnecting",
    "status.no_data": "no data", "status.no_tenants": "no tenants yet",
    "status.unreachable": "board unreachable",
    "status.lost": "connection lost ({why}) — last update {t} UTC",
    "stale": "no new events since {t} UTC",
    "level.critical": "critical", "level.high": "high", "level.none": "none",
    "unit.s": "s", "unit.m": "m", "unit.h": "h", "unit.d": "d"
  };
  var ru = {
    "title.funnel": "Воронка сегодня", "title.rt": "Первый ответ",
    "title.service": "Сервис сейчас", "title.managers": "Менеджеры сегодня",
    "title.sources": "Источники лидов сегодня", "title.risk": "Клиенты под риском",
    "title.churn": "Риск оттока",
    "kpi.events": "События", "kpi.leads": "Лиды", "kpi.orders": "Заказы",
    "kpi.revenue": "Выручка", "kpi.avg_check": "Средний чек",
    "kpi.repeat": "Повторные", "kpi.deals_won": "Выигр. сделки",
    "kpi.missed": "Пропущ. звонки", "last_wk": "пр. нед. {v}",
    "day": "сегодня {d} UTC · неделю назад = {w}, весь день",
    "funnel.note": "проигр. {l} · выигр. пр. нед. {w}",
    "funnel.lead": "лид", "funnel.won": "выиграно", "rt.avg": "ср. {v}",
    "rt.note": "{n} ответов", "svc.waiting": "Ждут ответа",
    "svc.oldest": "дольше всех {v}", "svc.none": "никто не ждёт",
    "svc.missed": "Пропущенные звонки", "svc.inbound": "из {n} входящих",
    "svc.tickets": "Обращения открыто / решено",
    "svc.resolution": "решение ~{v}", "svc.answers": "{n} отв.",
    "svc.csat": "ср. {v} / 5", "svc.ces": "{n} отв., 1–7",
    "col.manager": "Менеджер", "col.won": "Выигр.", "col.amount": "Сумма",
    "col.replies": "Ответы", "col.avg_reply": "Ср. ответ",
    "col.missed": "Пропущ.", "col.source": "Источник", "col.leads": "Лиды",
    "col.lost": "Проигр.", "col.conv": "Конв.", "no_data": "пока нет данных",
    "risk.none": "нет клиентов под риском", "churn.none": "пока нет сигналов оттока",
    "churn.alert": "{l} риск оттока: ", "sla": "Нарушения SLA за час: {n}",
    "status.connecting": "подключение", "status.live": "в эфире",
    "status.redis_down": "Redis недоступен", "status.reconnecting": "переподключение",
    "status.no_data": "нет данных", "status.no_tenants": "пока нет компаний",
    "status.unreachable": "табло недоступно",
    "status.lost": "нет связи ({why}) — последнее обновление {t} UTC",
    "stale": "новых событий нет с {t} UTC",
    "level.critical": "критично", "level.high": "высокий", "level.none": "нет",
    "unit.s": "с", "unit.m": "мин", "unit.h": "ч", "unit.d": "д"
  };
  var uk = {
    "title.funnel": "Воронка сьогодні", "title.rt": "Перша відповідь",
    "title.service": "Сервіс зараз", "title.managers": "Менеджери сьогодні",
    "title.sources": "Джерела лідів сьогодні", "title.risk": "Клієнти під ризиком",
    "title.churn": "Ризик відтоку",
    "kpi.events": "Події", "kpi.leads": "Ліди", "kpi.orders": "Замовлення",
    "kpi.revenue": "Виторг", "kpi.avg_check": "Середній чек",
    "kpi.repeat": "Повторні", "kpi.deals_won": "Вигр. угоди",
    "kpi.missed": "Пропущ. дзвінки", "last_wk": "мин. тиж. {v}",
    "day": "сьогодні {d} UTC · тиждень тому = {w}, увесь день",
    "funnel.note": "прогр. {l} · вигр. мин. тиж. {w}",
    "funnel.lead": "лід", "funnel.won": "виграно", "rt.avg": "сер. {v}",
    "rt.note": "{n} відп.", "svc.waiting": "Чекають відповіді",
    "svc.oldest": "найдовше {v}", "svc.none": "ніхто не чекає",
    "svc.missed": "Пропущені дзвінки", "svc.inbound": "з {n} вхідних",
    "svc.tickets": "Звернення відкрито / вирішено",
    "svc.resolution": "вирішення ~{v}", "svc.answers": "{n} відп.",
    "svc.csat": "сер. {v} / 5", "svc.ces": "{n} відп., 1–7",
    "col.manager": "Менеджер", "col.won": "Вигр.", "col.amount": "Сума",
    "col.replies": "Відповіді", "col.avg_reply": "Сер. відповідь",
    "col.missed": "Пропущ.", "col.source": "Джерело", "col.leads": "Ліди",
    "col.lost": "Програно", "col.conv": "Конв.", "no_data": "ще немає даних",
    "risk.none": "немає клієнтів під ризиком", "churn.none": "ще немає сигналів відтоку",
    "churn.alert": "{l} ризик відтоку: ", "sla": "Порушення SLA за годину: {n}",
    "status.connecting": "з'єднання", "status.live": "наживо",
    "status.redis_down": "Redis недоступний", "status.reconnecting": "повторне з'єднання",
    "status.no_data": "немає даних", "status.no_tenants": "ще немає компаній",
    "status.unreachable": "табло недоступне",
    "status.lost": "немає зв'язку ({why}) — останнє оновлення {t} UTC",
    "stale": "нових подій немає з {t} UTC",
    "level.critical": "критично", "level.high": "високий", "level.none": "немає",
    "unit.s": "с", "unit.m": "хв", "unit.h": "год", "unit.d": "д"
  };
  var it = {
    "title.funnel": "Funnel di oggi", "title.rt": "Prima risposta",
    "title.service": "Assistenza ora", "title.managers": "Commerciali oggi",
    "title.sources": "Fonti dei lead oggi", "title.risk": "Clienti a rischio",
    "title.churn": "Rischio abbandono",
    "kpi.events": "Eventi", "kpi.leads": "Lead", "kpi.orders": "Ordini",
    "kpi.revenue": "Fatturato", "kpi.avg_check": "Scontrino medio",
    "kpi.repeat": "Riacquisti", "kpi.deals_won": "Trattative vinte",
    "kpi.missed": "Chiamate perse", "last_wk": "sett. prec. {v}",
    "day": "oggi {d} UTC · sett. scorsa = {w}, giorno intero",
    "funnel.note": "perse {l} · vinte sett. prec. {w}", "funnel.lead": "lead",
    "funnel.won": "vinte", "rt.avg": "media {v}", "rt.note": "{n} risposte",
    "svc.waiting": "In attesa di risposta", "svc.oldest": "la più vecchia {v}",
    "svc.none": "nessuno in attesa", "svc.missed": "Chiamate perse",
    "svc.inbound": "su {n} in entrata", "svc.tickets": "Ticket aperti / risolti",
    "svc.resolution": "risoluzione media {v}", "svc.answers": "{n} risposte",
    "svc.csat": "media {v} / 5", "svc.ces": "{n} risposte, 1–7",
    "col.manager": "Commerciale", "col.won": "Vinte", "col.amount": "Importo",
    "col.replies": "Risposte", "col.avg_reply": "Risp. media",
    "col.missed": "Perse", "col.source": "Fonte", "col.leads": "Lead",
    "col.lost": "Perse", "col.conv": "Conv.", "no_data": "ancora nessun dato",
    "risk.none": "nessun cliente a rischio", "churn.none": "ancora nessun avviso",
    "churn.alert": "{l} rischio abbandono: ", "sla": "Violazioni SLA, ultima ora: {n}",
    "status.connecting": "connessione", "status.live": "in diretta",
    "status.redis_down": "Redis non raggiungibile", "status.reconnecting": "riconnessione",
    "status.no_data": "nessun dato", "status.no_tenants": "ancora nessuna azienda",
    "status.unreachable": "tabellone non raggiungibile",
    "status.lost": "connessione persa ({why}) — ultimo aggiornamento {t} UTC",
    "stale": "nessun nuovo evento dalle {t} UTC",
    "level.critical": "critico", "level.high": "alto", "level.none": "nessuno",
    "unit.s": "s", "unit.m": "min", "unit.h": "h", "unit.d": "g"
  };
  var locales = { en: "en-US", ru: "ru-RU", uk: "uk-UA", it: "it-IT" };
  var texts = { en: en, ru: ru, uk: uk, it: it };

  function make(lang) {
    var t = texts[lang] ? lang : "en";
    return {
      lang: t,
      locale: locales[t],
      t: function (key, args) {
        var s = texts[t][key] !== undefined ? texts[t][key] : en[key] !== undefined ? en[key] : key;
        return s.replace(/\{(\w+)\}/g, function (m, name) {
          return args && args[name] !== undefined ? String(args[name]) : m;
        });
      }
    };
  }
  window.CP_I18N = { make: make, languages: Object.keys(texts) };
})();
