import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { ApiError } from './api.ts';
import { errorMessages, messages, type Language, type MessageKey } from './messages.ts';

export type { Language, MessageKey };

const STORAGE_KEY = 'millet.language';

function initialLanguage(): Language {
  const saved = localStorage.getItem(STORAGE_KEY);
  if (saved === 'en' || saved === 'zh-CN') return saved;
  return navigator.language.toLowerCase().startsWith('zh') ? 'zh-CN' : 'en';
}

export type Translate = (key: MessageKey, vars?: Record<string, string | number>) => string;

interface I18n {
  language: Language;
  setLanguage(language: Language): void;
  t: Translate;
  /** A plain-words message for an error: the code's message, else the problem's detail or title. */
  errorText(error: unknown): string;
}

const I18nContext = createContext<I18n | undefined>(undefined);

/** The language the app speaks, remembered in localStorage; <html lang> follows it. */
export function I18nProvider({ children }: { children: ReactNode }) {
  const [language, setLanguageState] = useState<Language>(initialLanguage);
  useEffect(() => {
    document.documentElement.lang = language;
  }, [language]);
  const setLanguage = useCallback((next: Language) => {
    localStorage.setItem(STORAGE_KEY, next);
    setLanguageState(next);
  }, []);
  const value = useMemo<I18n>(() => {
    const t: Translate = (key, vars) => {
      let text: string = messages[language][key];
      for (const [name, v] of Object.entries(vars ?? {})) text = text.replaceAll(`{${name}}`, String(v));
      return text;
    };
    const errorText = (error: unknown) => {
      if (error instanceof ApiError) {
        const known = error.code ? errorMessages[language][error.code] : undefined;
        // A validation problem's detail names the field: keep it next to the translated words.
        if (known)
          return error.code === 'VALIDATION_FAILED' && error.problem.detail
            ? `${known} (${error.problem.detail})`
            : known;
        return error.problem.detail ?? error.problem.title ?? t('error.generic');
      }
      return error instanceof Error ? error.message : t('error.generic');
    };
    return { language, setLanguage, t, errorText };
  }, [language, setLanguage]);
  return <I18nContext.Provider value={value}>{children}</I18nContext.Provider>;
}

export function useI18n(): I18n {
  const value = useContext(I18nContext);
  if (!value) throw new Error('useI18n outside I18nProvider');
  return value;
}

/** The 中文 / English switch: a labelled select, so it works with the keyboard and screen readers. */
export function LanguageSwitch() {
  const { language, setLanguage, t } = useI18n();
  return (
    <label className="language-switch">
      <span className="visually-hidden">{t('language.label')}</span>
      <select
        value={language}
        aria-label={t('language.label')}
        onChange={(e) => setLanguage(e.target.value as Language)}
      >
        <option value="zh-CN">中文</option>
        <option value="en">English</option>
      </select>
    </label>
  );
}
