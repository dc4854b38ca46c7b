import { expect, type Locator, type Page } from '@playwright/test';

/**
 * Finds a free seat on the canvas the way a person does — by pointing at it and reading the
 * hover line — then clicks it. Returns the seat's label.
 */
export async function pickSeatOnCanvas(page: Page, canvas: Locator, avoid: string[] = []): Promise<string> {
  const box = await canvas.boundingBox();
  if (!box) throw new Error('the seat map is not on screen');
  const hover = page.getByTestId('seatmap-hover');
  const steps = 28;
  for (let y = 1; y < steps; y += 1) {
    for (let x = 1; x < steps; x += 1) {
      const px = box.x + (box.width * x) / steps;
      const py = box.y + (box.height * y) / steps;
      await page.mouse.move(px, py);
      const text = (await hover.textContent())?.trim() ?? '';
      const label = /^([^·]+?)\s·/.exec(text)?.[1]?.trim();
      if (label && !avoid.includes(label) && /가능|available/i.test(text)) {
        await page.mouse.click(px, py);
        return label;
      }
    }
  }
  throw new Error('no free seat found on the canvas');
}

export async function expectSelected(page: Page, count: number) {
  await expect(page.getByTestId('selection-summary')).toContainText(new RegExp(`^${count}/`));
}
