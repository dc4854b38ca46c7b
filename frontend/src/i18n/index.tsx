// Korean first, English available. Messages live in one dictionary per area (buyer, admin,
// errors); each has a `ko` and an `en` table with the same keys (a unit test checks).
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { admin } from './admin';
import { buyer } from './buyer';
import { errors } from './errors';

export type Lang = 'ko' | 'en';
export const LANGS: Lang[] = ['ko', 'en'];

export const messages = {
  ko: { ...buyer.ko, ...admin.ko, ...errors.ko },
  en: { ...buyer.en, ...admin.en, ...errors.en },
};
export type MessageKey = keyof typeof messages.ko;
export type Vars = Record<string, string | number>;

export function format(template: string, vars: Vars = {}): string {
  return template.replace(/\{(\w+)\}/g, (whole, name: string) => (name in vars ? String(vars[name]) : whole));
}

export function translate(lang: Lang, key: MessageKey, vars?: Vars): string {
  return format(messages[lang][key] ?? messages.ko[key] ?? key, vars);
}

interface I18n {
  lang: Lang;
  setLang: (lang: Lang) => void;
  t: (key: MessageKey, vars?: Vars) => string;
  /** Has a message for this key (e.g. an error code). */
  has: (key: string) => key is MessageKey;
  won: (amount: number) => string;
  dateTime: (iso: string) => string;
  number: (n: number) => string;
}

const Context = createContext<I18n | null>(null);
const STORAGE_KEY = 'tiketi.lang';

function initialLang(): Lang {
  const stored = typeof localStorage !== 'undefined' ? localStorage.getItem(STORAGE_KEY) : null;
  if (stored === 'ko' || stored === 'en') return stored;
  return 'ko';
}

export function I18nProvider({ children }: { children: ReactNode }) {
  const [lang, setLangState] = useState<Lang>(initialLang);
  useEffect(() => {
    document.documentElement.lang = lang;
  }, [lang]);
  const setLang = useCallback((next: Lang) => {
    localStorage.setItem(STORAGE_KEY, next);
    setLangState(next);
  }, []);
  const value = useMemo<I18n>(() => {
    const locale = lang === 'ko' ? 'ko-KR' : 'en-US';
    const numbers = new Intl.NumberFormat(locale);
    const times = new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'short', timeZone: 'Asia/Seoul' });
    return {
      lang,
      setLang,
      t: (key, vars) => translate(lang, key, vars),
      has: (key): key is MessageKey => key in messages.ko,
      won: (amount) => (lang === 'ko' ? `${numbers.format(amount)}원` : `₩${numbers.format(amount)}`),
      dateTime: (iso) => times.format(new Date(iso)),
      number: (n) => numbers.format(n),
    };
  }, [lang, setLang]);
  return <Context.Provider value={value}>{children}</Context.Provider>;
}

export function useI18n(): I18n {
  const value = useContext(Context);
  if (!value) throw new Error('useI18n outside I18nProvider');
  return value;
}
