// Toss Payments' bank codes (virtual accounts and refund accounts), by name in each language.
import type { Lang } from '../i18n';

export const BANKS: Record<string, { ko: string; en: string }> = {
  '39': { ko: '경남은행', en: 'Kyongnam Bank' },
  '34': { ko: '광주은행', en: 'Kwangju Bank' },
  '12': { ko: '단위농협', en: 'NH Local Co-op' },
  '32': { ko: '부산은행', en: 'Busan Bank' },
  '45': { ko: '새마을금고', en: 'MG Saemaeul' },
  '64': { ko: '산림조합', en: 'Korea Forestry Co-op' },
  '88': { ko: '신한은행', en: 'Shinhan Bank' },
  '48': { ko: '신협', en: 'Credit Union (Shinhyup)' },
  '27': { ko: '씨티은행', en: 'Citibank Korea' },
  '20': { ko: '우리은행', en: 'Woori Bank' },
  '71': { ko: '우체국', en: 'Korea Post' },
  '50': { ko: '저축은행', en: 'Savings Bank' },
  '37': { ko: '전북은행', en: 'Jeonbuk Bank' },
  '35': { ko: '제주은행', en: 'Jeju Bank' },
  '90': { ko: '카카오뱅크', en: 'KakaoBank' },
  '89': { ko: '케이뱅크', en: 'K bank' },
  '92': { ko: '토스뱅크', en: 'Toss Bank' },
  '81': { ko: '하나은행', en: 'Hana Bank' },
  '54': { ko: 'HSBC', en: 'HSBC' },
  '03': { ko: 'IBK기업은행', en: 'IBK Industrial Bank' },
  '06': { ko: 'KB국민은행', en: 'KB Kookmin Bank' },
  '31': { ko: 'DGB대구은행', en: 'DGB Daegu Bank' },
  '02': { ko: 'KDB산업은행', en: 'KDB Bank' },
  '11': { ko: 'NH농협은행', en: 'NH Nonghyup Bank' },
  '23': { ko: 'SC제일은행', en: 'SC First Bank' },
  '07': { ko: 'Sh수협은행', en: 'Suhyup Bank' },
};

/** The bank's name, or its code when we do not know it. */
export function bankName(code: string | null | undefined, lang: Lang): string {
  if (!code) return '—';
  return BANKS[code]?.[lang] ?? code;
}
