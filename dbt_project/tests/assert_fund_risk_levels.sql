-- A region is at least 一般 when months_payable <= risk_months_general or the surplus rate < risk_surplus_general.
select * from {{ ref('fund_operation') }}
where risk_level = '正常'
  and (months_payable <= {{ var('risk_months_general') }} or current_surplus_rate < {{ var('risk_surplus_general') }})
